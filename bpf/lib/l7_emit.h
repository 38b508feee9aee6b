/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ms_l7_emit: the L7 proxy runs this program (BPF_PROG_TEST_RUN, the record as its context)
 * to put an L7 record into the event ring: one ring, one rate limit and one set of counters
 * for every event, and msegctl observe in another process sees L7 records like the rest.
 * Included once, by the program file.
 */
#ifndef MS_BPF_L7_EMIT_H
#define MS_BPF_L7_EMIT_H

#include "common.h"
#include "events.h"

SEC("syscall")
int ms_l7_emit(struct ms_event_l7 *rec)
{
	struct ms_event_l7 ev;

	/* A copy on the stack: the context is user memory of the caller's size. */
	__builtin_memcpy(&ev, rec, sizeof(ev));
	ev.hdr.version = MS_EVENT_VERSION;
	ev.hdr.len = sizeof(ev);
	ev.hdr.type = MS_EVENT_L7;
	ev.method[MS_L7_METHOD_MAX - 1] = 0;
	ev.path[MS_L7_PATH_MAX - 1] = 0;
	return ms_event_output(&ev, sizeof(ev));
}

#endif
