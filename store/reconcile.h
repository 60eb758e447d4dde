/*
 * store/reconcile.h — NOT BUILT YET: scaffolding for the module's owner.
 */
#ifndef STORE_RECONCILE_H
#define STORE_RECONCILE_H

#endif
