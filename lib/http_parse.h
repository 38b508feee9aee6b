/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.x message framing for the L7 proxy, on top of llhttp: where a request's or response's
 * head ends, what it says, and where its body ends, over a byte stream that arrives in pieces
 * and may hold several pipelined messages.
 *
 * Stricter than llhttp alone, because a proxy that reads a message one way while the server
 * reads it another is a request-smuggling gap. Refused (MS_HTTP_ERR), never to be forwarded:
 *   - Content-Length together with Transfer-Encoding; two Content-Length headers;
 *   - in requests, Transfer-Encoding other than exactly one "chunked", and trailer fields;
 *   - obsolete line folding; a CR or LF that is not part of a CRLF; control characters
 *     (other than HTAB in field values) anywhere in the head; an empty or non-token field name
 *     (which includes whitespace before the colon);
 *   - a request line other than METHOD SP target SP HTTP/1.x with visible ASCII in the target;
 *     versions other than 1.0 and 1.1;
 *   - a head over max_head bytes or with more than MS_HTTP_MAX_HEADERS fields;
 *   - requests: two Host headers, or HTTP/1.1 without one; an absolute-form target
 *     ("http://a/b") whose authority is not the Host header's value (rules match Host, the
 *     server would use the target's);
 *   - whatever llhttp refuses (bad chunk sizes, bad Content-Length, bad tokens, ...).
 * Bodies are framed, never copied: chunked bodies keep their chunk lines.
 *
 * Usage: ms_http_parse() is given the bytes that follow the last byte it reported as used.
 * While a head is incomplete it reports nothing used and remembers how far it has looked, so
 * the caller keeps the head's bytes and passes them again, with what arrived since (they may
 * have moved in memory; the head must stay contiguous). Once the head is done, body bytes are
 * reported used as they are parsed, up to the message's last byte. A message without a body
 * reports head and end at once. The parser then expects the next message.
 */
#ifndef MICROSEG_HTTP_PARSE_H
#define MICROSEG_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "http_rules.h"

/* As Envoy's default limit on the number of header fields. */
#define MS_HTTP_MAX_HEADERS 100

enum ms_http_kind {
	MS_HTTP_REQUEST,
	MS_HTTP_RESPONSE,
};

/* ms_http_parse() results: a bit set, or MS_HTTP_ERR. */
#define MS_HTTP_HEAD 1 /* the head ended in this call (used includes it) */
#define MS_HTTP_DONE 2 /* the message ended in this call, at used */
#define MS_HTTP_ERR (-1)

enum ms_http_body {
	MS_HTTP_BODY_NONE,
	MS_HTTP_BODY_LENGTH,  /* Content-Length */
	MS_HTTP_BODY_CHUNKED,
	MS_HTTP_BODY_EOF,     /* responses: until the server closes */
};

/* Where a header field lies, relative to the first byte of the message's head. */
struct ms_http_span {
	uint32_t name_off, name_len, value_off, value_len;
};

struct ms_http_parser {
	llhttp_t ll;
	llhttp_settings_t settings;
	enum ms_http_kind kind;
	uint32_t max_head;

	/* the current message */
	bool in_head;        /* the head is still being read */
	bool skip_body;      /* responses: the request was HEAD (set by ms_http_parser_expect) */
	bool connect_req;    /* responses: the request was CONNECT */
	bool head_hit, msg_hit; /* set by the callbacks that pause llhttp */
	uint8_t span_state;  /* where in a field the last callback was */
	const char *base;    /* first byte of the head, during one ms_http_parse() call */
	size_t seen;         /* head bytes already given to llhttp */
	uint32_t method_off, method_len, target_off, target_len;
	uint32_t n_spans;
	struct ms_http_span spans[MS_HTTP_MAX_HEADERS];

	/* what the head says (valid from MS_HTTP_HEAD to the next message) */
	uint32_t head_len;   /* bytes of the head, leading empty lines included */
	uint8_t method;      /* enum llhttp_method */
	uint16_t status;     /* responses */
	uint8_t http_minor;  /* 0 or 1 */
	bool keep_alive;     /* the connection may carry another message after this one */
	bool upgrade;        /* requests: Upgrade or CONNECT; responses: 101, or 2xx to CONNECT */
	bool expect_continue;
	enum ms_http_body body;

	const char *error;   /* why MS_HTTP_ERR: a constant string */
};

/* Prepares p for a stream of messages of one kind. max_head bounds each head (request or
 * status line and fields, final CRLF included). */
void ms_http_parser_init(struct ms_http_parser *p, enum ms_http_kind kind, uint32_t max_head);

/* Responses: the next response answers a request with this method (enum llhttp_method), so
 * HEAD means no body and CONNECT with 2xx means a tunnel. Call before the response's bytes. */
void ms_http_parser_expect(struct ms_http_parser *p, uint8_t request_method);

/* Parses data[0, len) (see the usage note above). Returns MS_HTTP_HEAD and/or MS_HTTP_DONE
 * with *used set (0 while a head is incomplete), 0 if everything given was used without
 * reaching either, or MS_HTTP_ERR (p->error says why; the stream is unusable from then on). */
int ms_http_parse(struct ms_http_parser *p, const char *data, size_t len, size_t *used);

/* The peer closed its side: for a response read until the close, the message is complete
 * (MS_HTTP_DONE). Between messages: 0. Within one: MS_HTTP_ERR. */
int ms_http_parse_eof(struct ms_http_parser *p);

/* The request in view, from the head's first byte `head` (the bytes given to ms_http_parse()
 * for this message, or a copy of them). hdrs must hold MS_HTTP_MAX_HEADERS. Requests only. */
void ms_http_request_view(const struct ms_http_parser *p, const char *head, struct ms_http_header *hdrs,
			  struct ms_http_request_view *out);

#endif
