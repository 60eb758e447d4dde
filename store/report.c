/*
 * store/report.c — NOT BUILT YET: scaffolding for the module's owner.
 */
#include "store/report.h"
