/*
 * store/reconcile.c — NOT BUILT YET: scaffolding for the module's owner.
 */
#include "store/reconcile.h"
