/* Everything common/ offers, for tools. */
#ifndef IMG_IMG_H
#define IMG_IMG_H
#include "util.h"
#include "digest.h"
#include "json.h"
#include "ref.h"
#include "image.h"
#include "store.h"
#include "io.h"
#include "progress.h"
#include "layer.h"
#include "arcin.h"
#include "arcout.h"
#include "ring.h"
#include "pool.h"
#endif
