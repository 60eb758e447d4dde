/*
 * store/report.h — NOT BUILT YET: scaffolding for the module's owner.
 */
#ifndef STORE_REPORT_H
#define STORE_REPORT_H

#endif
