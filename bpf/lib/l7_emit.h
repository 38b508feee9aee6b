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

/* One record, copied to the stack (the context is the caller's buffer) and stamped. */
static __always_inline int ms_l7_emit_one(const struct ms_event_l7 *rec)
{
	struct ms_event_l7 ev;

	__builtin_memcpy(&ev, rec, sizeof(ev));
	ev.hdr.version = MS_EVENT_VERSION;
	ev.hdr.len = sizeof(ev);
	ev.hdr.type = MS_EVENT_L7;
	ev.method[MS_L7_METHOD_MAX - 1] = 0;
	ev.path[MS_L7_PATH_MAX - 1] = 0;
	return ms_event_output(&ev, sizeof(ev));
}

/* Returns the number of records written. Unrolled: context offsets must be constants. */
SEC("syscall")
int ms_l7_emit(struct ms_l7_emit_batch *b)
{
	__u32 n = b->n;
	int written = 0;

#pragma unroll
	for (int i = 0; i < MS_L7_EMIT_BATCH; i++)
		if ((__u32)i < n)
			written += ms_l7_emit_one(&b->recs[i]);
	return written;
}

#endif
