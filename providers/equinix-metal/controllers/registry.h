/*
 * registry.h - the controllers this provider compiles in, as reducers, in a
 * fixed order (the order is part of determinism: replay folds in this order).
 */
#ifndef EQXM_METAL_REGISTRY_H
#define EQXM_METAL_REGISTRY_H

#include "engine/decide/reduce.h"

/* Every reducer of the provider; *n gets their number. The array is static. */
const struct reducer *const *metal_reducers(size_t *n);

#endif
