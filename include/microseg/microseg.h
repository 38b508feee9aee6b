/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicroseg: identity-based microsegmentation for containers, as a C library.
 * Include this one header. See common.h for the conventions every call follows.
 */
#ifndef MICROSEG_H
#define MICROSEG_H

#include <microseg/common.h>
#include <microseg/ctx.h>
#include <microseg/identity.h>
#include <microseg/endpoint.h>
#include <microseg/policy.h>
#include <microseg/events.h>
#include <microseg/service.h>
#include <microseg/proxy.h>

#endif
