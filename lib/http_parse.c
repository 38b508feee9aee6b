// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/1.x framing for the proxy (lib/http_parse.h): llhttp does the parsing; this file keeps
 * the spans of the head, stops llhttp at the end of the head and of the message (by pausing it
 * from the callbacks, so the byte position is exact), and adds the checks llhttp does not make.
 *
 * Debian builds llhttp's loose mode, which takes a bare LF for CRLF at some places, obsolete
 * line folding and non-ASCII bytes in the target. Rather than depend on how llhttp was built,
 * every head that llhttp accepted is scanned once more for exactly those things (scan_head());
 * llhttp stays the one that decides where fields and bodies are.
 */
#include <string.h>

#include "http_parse.h"

enum span_state {
	SPAN_NONE,
	SPAN_NAME,       /* within a field name */
	SPAN_AFTER_NAME, /* the name is complete, its value not started */
	SPAN_VALUE,
};

static struct ms_http_parser *parser_of(llhttp_t *ll)
{
	return ll->data;
}

static int refuse(llhttp_t *ll, const char *why)
{
	llhttp_set_error_reason(ll, why);
	return HPE_USER;
}

/* Extends (or starts) a span that llhttp reports in pieces when a head arrives in pieces. The
 * pieces are contiguous because the head is kept contiguous. */
static void span_add(const struct ms_http_parser *p, uint32_t *off, uint32_t *len, const char *at, size_t n)
{
	if (*len == 0)
		*off = (uint32_t)(at - p->base);
	*len += (uint32_t)n;
}

static int on_method(llhttp_t *ll, const char *at, size_t n)
{
	struct ms_http_parser *p = parser_of(ll);

	span_add(p, &p->method_off, &p->method_len, at, n);
	return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
	struct ms_http_parser *p = parser_of(ll);

	span_add(p, &p->target_off, &p->target_len, at, n);
	return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
	struct ms_http_parser *p = parser_of(ll);
	struct ms_http_span *s;

	if (!p->in_head) {
		/* Trailers: fields after the body that some servers merge into the head. Rare in
		 * requests, and one more place for two parsers to disagree. */
		if (p->kind == MS_HTTP_REQUEST)
			return refuse(ll, "trailer fields in a request");
		return 0;
	}
	if (p->span_state != SPAN_NAME) {
		if (p->n_spans == MS_HTTP_MAX_HEADERS)
			return refuse(ll, "too many header fields");
		s = &p->spans[p->n_spans++];
		memset(s, 0, sizeof(*s));
		p->span_state = SPAN_NAME;
	}
	s = &p->spans[p->n_spans - 1];
	span_add(p, &s->name_off, &s->name_len, at, n);
	return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
	struct ms_http_parser *p = parser_of(ll);

	if (p->in_head && p->span_state == SPAN_NAME) {
		struct ms_http_span *s = &p->spans[p->n_spans - 1];
		/* an empty value points just past the name */
		s->value_off = s->name_off + s->name_len;
		p->span_state = SPAN_AFTER_NAME;
	}
	return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
	struct ms_http_parser *p = parser_of(ll);
	struct ms_http_span *s;

	if (!p->in_head || p->n_spans == 0)
		return 0;
	s = &p->spans[p->n_spans - 1];
	if (p->span_state == SPAN_AFTER_NAME) {
		s->value_off = (uint32_t)(at - p->base);
		s->value_len = 0;
		p->span_state = SPAN_VALUE;
	}
	s->value_len += (uint32_t)n;
	return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
	parser_of(ll)->span_state = SPAN_NONE;
	return 0;
}

static bool status_has_no_body(unsigned status)
{
	return status / 100 == 1 || status == 204 || status == 304;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct ms_http_parser *p = parser_of(ll);

	p->head_hit = true;
	p->method = ll->method;
	p->status = ll->status_code;
	p->http_minor = ll->http_minor;
	p->upgrade = ll->upgrade;
	if (p->kind == MS_HTTP_RESPONSE) {
		p->upgrade = p->status == 101 || (p->connect_req && p->status / 100 == 2);
		/* llhttp knows neither the request's method nor that a 204 or 304 has no body
		 * even with a Content-Length: F_SKIPBODY is its own flag for "no body", which
		 * an on_headers_complete() return of 1 would set if we were not pausing here. */
		if (p->skip_body || p->upgrade || status_has_no_body(p->status))
			ll->flags |= F_SKIPBODY;
	}
	p->keep_alive = llhttp_should_keep_alive(ll);

	if (ll->flags & F_SKIPBODY)
		p->body = MS_HTTP_BODY_NONE;
	else if (p->kind == MS_HTTP_REQUEST && ll->upgrade && ll->method == HTTP_CONNECT)
		p->body = MS_HTTP_BODY_NONE;
	else if (ll->flags & F_CHUNKED)
		p->body = MS_HTTP_BODY_CHUNKED;
	else if (ll->flags & F_TRANSFER_ENCODING)
		p->body = MS_HTTP_BODY_EOF; /* requests: refused in check_fields() */
	else if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0)
		p->body = MS_HTTP_BODY_LENGTH;
	else if (llhttp_message_needs_eof(ll))
		p->body = MS_HTTP_BODY_EOF;
	else
		p->body = MS_HTTP_BODY_NONE;
	return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *ll)
{
	parser_of(ll)->msg_hit = true;
	return HPE_PAUSED;
}

void ms_http_parser_init(struct ms_http_parser *p, enum ms_http_kind kind, uint32_t max_head)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->max_head = max_head;
	llhttp_settings_init(&p->settings);
	p->settings.on_method = on_method;
	p->settings.on_url = on_url;
	p->settings.on_header_field = on_header_field;
	p->settings.on_header_field_complete = on_header_field_complete;
	p->settings.on_header_value = on_header_value;
	p->settings.on_header_value_complete = on_header_value_complete;
	p->settings.on_headers_complete = on_headers_complete;
	p->settings.on_message_complete = on_message_complete;
	llhttp_init(&p->ll, kind == MS_HTTP_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE, &p->settings);
	p->ll.data = p;
	p->in_head = true;
}

void ms_http_parser_expect(struct ms_http_parser *p, uint8_t request_method)
{
	p->skip_body = request_method == HTTP_HEAD;
	p->connect_req = request_method == HTTP_CONNECT;
}

/* Ready for the next message's head. The spans of the last one stay readable until that head's
 * first bytes are parsed (the proxy shows the request in its record after the response). */
static void next_message(struct ms_http_parser *p)
{
	p->in_head = true;
	p->seen = 0;
}

static void clear_spans(struct ms_http_parser *p)
{
	p->method_off = p->method_len = p->target_off = p->target_len = 0;
	p->n_spans = 0;
	p->span_state = SPAN_NONE;
}

static int fail(struct ms_http_parser *p, const char *why)
{
	if (!p->error)
		p->error = why;
	return MS_HTTP_ERR;
}

static int fail_llhttp(struct ms_http_parser *p)
{
	const char *why = llhttp_get_error_reason(&p->ll);

	return fail(p, why && *why ? why : llhttp_errno_name(llhttp_get_errno(&p->ll)));
}

static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * The head as bytes: CRLF line ends only, a start line of the right shape, each field line a
 * token name, a colon and a value free of control characters (HTAB aside), no line starting
 * with whitespace (obsolete folding). llhttp has already parsed it; this catches what its loose
 * mode lets through.
 */
static const char *scan_head(const unsigned char *h, size_t n, bool request)
{
	size_t i = 0, start, spaces = 0;

	while (i + 1 < n && h[i] == '\r' && h[i + 1] == '\n')
		i += 2;
	for (start = i; i < n && h[i] != '\r' && h[i] != '\n'; i++) {
		if (h[i] == ' ') {
			if (request && (i == start || h[i - 1] == ' '))
				return "malformed request line";
			spaces++;
		} else if (request ? h[i] < 0x21 || h[i] > 0x7e : is_ctl(h[i]) && h[i] != '\t') {
			return request ? "character not allowed in the request line"
				       : "control character in the status line";
		}
	}
	if (request && spaces != 2)
		return "malformed request line";
	for (;;) {
		size_t name;

		if (i + 1 >= n || h[i] != '\r' || h[i + 1] != '\n')
			return "line not ended by CRLF";
		i += 2;
		if (i + 2 == n && h[i] == '\r' && h[i + 1] == '\n')
			return NULL;
		if (i < n && (h[i] == ' ' || h[i] == '\t'))
			return "obsolete line folding";
		for (name = i; i < n && is_tchar(h[i]); i++)
			;
		if (i == name || i >= n || h[i] != ':')
			return "malformed header field name";
		for (i++; i < n && h[i] != '\r' && h[i] != '\n'; i++) {
			if (is_ctl(h[i]) && h[i] != '\t')
				return "control character in a header field";
		}
	}
}

static void trim(const char *base, uint32_t off, uint32_t len, const char **s, size_t *n)
{
	const char *b = base + off, *e = b + len;

	while (b < e && (*b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*s = b;
	*n = (size_t)(e - b);
}

static bool name_is(const char *base, const struct ms_http_span *s, const char *name)
{
	size_t n = strlen(name);

	return s->name_len == n && strncasecmp(base + s->name_off, name, n) == 0;
}

static bool value_is(const char *base, const struct ms_http_span *s, const char *value)
{
	const char *v;
	size_t n;

	trim(base, s->value_off, s->value_len, &v, &n);
	return n == strlen(value) && strncasecmp(v, value, n) == 0;
}

/*
 * An absolute-form target ("http://host/path") names the host the server must use, whatever the
 * Host header says (RFC 9112 3.2.2), while rules match the Host header: they must agree.
 * Clients of a transparent proxy send origin-form anyway; only forward proxies get this form.
 */
static bool authority_matches_host(const char *target, size_t n, const struct ms_http_span *host,
				   const char *base)
{
	const char *auth, *end = target + n, *h;
	size_t hn;

	if (n >= 7 && strncasecmp(target, "http://", 7) == 0)
		auth = target + 7;
	else if (n >= 8 && strncasecmp(target, "https://", 8) == 0)
		auth = target + 8;
	else
		return false;
	for (end = auth; end < target + n && *end != '/' && *end != '?' && *end != '#'; end++)
		;
	if (!host)
		return false;
	trim(base, host->value_off, host->value_len, &h, &hn);
	return hn == (size_t)(end - auth) && strncasecmp(h, auth, hn) == 0;
}

/* What the fields mean, beyond their syntax. */
static const char *check_fields(struct ms_http_parser *p, const char *base)
{
	const struct ms_http_span *host = NULL;
	unsigned hosts = 0, encodings = 0;

	if (p->ll.http_major != 1 || p->ll.http_minor > 1)
		return "HTTP version other than 1.0 or 1.1";
	p->expect_continue = false;
	for (uint32_t i = 0; i < p->n_spans; i++) {
		const struct ms_http_span *s = &p->spans[i];

		if (name_is(base, s, "host") && hosts++ == 0)
			host = s;
		else if (name_is(base, s, "transfer-encoding"))
			encodings += value_is(base, s, "chunked") ? 1 : 2;
		else if (name_is(base, s, "expect"))
			p->expect_continue = value_is(base, s, "100-continue");
	}
	if (p->kind == MS_HTTP_RESPONSE)
		return NULL;
	if (hosts > 1)
		return "more than one Host header";
	if (hosts == 0 && p->ll.http_minor == 1)
		return "HTTP/1.1 request without Host";
	/* llhttp also refuses a non-final chunked, but takes "gzip, chunked", "identity" or an
	 * empty value: requests get no coding but chunked, named once. */
	if (encodings > 1)
		return "Transfer-Encoding other than chunked";
	if (p->target_len > 0 && base[p->target_off] != '/' && base[p->target_off] != '*' &&
	    p->ll.method != HTTP_CONNECT && !authority_matches_host(base + p->target_off, p->target_len, host, base))
		return "absolute-form target naming another host than Host";
	return NULL;
}

/* Resumes llhttp if it paused in a callback; false if it stopped for good. */
static bool resume(struct ms_http_parser *p)
{
	llhttp_errno_t e = llhttp_get_errno(&p->ll);

	if (e == HPE_PAUSED)
		llhttp_resume(&p->ll);
	else if (e != HPE_OK)
		return false;
	return true;
}

/* Lets llhttp reach the end of a message that has no body, without giving it input. */
static int finish_bodyless(struct ms_http_parser *p, const char *at)
{
	llhttp_errno_t e;

	llhttp_resume(&p->ll);
	p->msg_hit = false;
	e = llhttp_execute(&p->ll, at, 0);
	if (e != HPE_PAUSED || !p->msg_hit)
		return e == HPE_OK ? fail(p, "message without body did not end") : fail_llhttp(p);
	next_message(p);
	return MS_HTTP_DONE;
}

static int parse_head(struct ms_http_parser *p, const char *data, size_t len, size_t *used)
{
	const char *why;
	llhttp_errno_t e;
	size_t head;
	int rc;

	if (len < p->seen)
		return fail(p, "head bytes lost between calls");
	if (p->seen == 0)
		clear_spans(p);
	p->base = data;
	p->head_hit = false;
	e = llhttp_execute(&p->ll, data + p->seen, len - p->seen);
	if (e == HPE_OK) {
		p->seen = len;
		if (len >= p->max_head)
			return fail(p, "header section too large");
		return 0;
	}
	if (e != HPE_PAUSED || !p->head_hit)
		return fail_llhttp(p);
	head = (size_t)(llhttp_get_error_pos(&p->ll) - data);
	if (head > p->max_head)
		return fail(p, "header section too large");
	why = scan_head((const unsigned char *)data, head, p->kind == MS_HTTP_REQUEST);
	if (!why)
		why = check_fields(p, data);
	if (why)
		return fail(p, why);
	p->head_len = (uint32_t)head;
	p->in_head = false;
	*used = head;
	if (p->body != MS_HTTP_BODY_NONE)
		return MS_HTTP_HEAD;
	rc = finish_bodyless(p, data + head);
	return rc < 0 ? rc : MS_HTTP_HEAD | rc;
}

int ms_http_parse(struct ms_http_parser *p, const char *data, size_t len, size_t *used)
{
	llhttp_errno_t e;

	*used = 0;
	if (p->error)
		return MS_HTTP_ERR;
	if (!resume(p))
		return llhttp_get_errno(&p->ll) == HPE_PAUSED_UPGRADE ? fail(p, "data after an upgrade")
								       : fail_llhttp(p);
	if (p->in_head)
		return parse_head(p, data, len, used);
	p->msg_hit = false;
	e = llhttp_execute(&p->ll, data, len);
	if (e == HPE_OK) {
		*used = len;
		return 0;
	}
	if (e != HPE_PAUSED || !p->msg_hit)
		return fail_llhttp(p);
	*used = (size_t)(llhttp_get_error_pos(&p->ll) - data);
	next_message(p);
	return MS_HTTP_DONE;
}

int ms_http_parse_eof(struct ms_http_parser *p)
{
	llhttp_errno_t e;

	if (p->error)
		return MS_HTTP_ERR;
	if (p->in_head)
		return p->seen == 0 ? 0 : fail(p, "connection closed within a head");
	if (!resume(p))
		return fail_llhttp(p);
	p->msg_hit = false;
	e = llhttp_finish(&p->ll);
	if (e == HPE_PAUSED && p->msg_hit) {
		next_message(p);
		return MS_HTTP_DONE;
	}
	return fail(p, e == HPE_OK ? "connection closed within a message" : llhttp_errno_name(e));
}

void ms_http_request_view(const struct ms_http_parser *p, const char *head, struct ms_http_header *hdrs,
			  struct ms_http_request_view *out)
{
	memset(out, 0, sizeof(*out));
	out->method = head + p->method_off;
	out->method_len = p->method_len;
	out->path = head + p->target_off;
	out->path_len = p->target_len;
	for (uint32_t i = 0; i < p->n_spans; i++) {
		const struct ms_http_span *s = &p->spans[i];

		hdrs[i].name = head + s->name_off;
		hdrs[i].name_len = s->name_len;
		trim(head, s->value_off, s->value_len, &hdrs[i].value, &hdrs[i].value_len);
		if (!out->host && name_is(head, s, "host")) {
			out->host = hdrs[i].value;
			out->host_len = hdrs[i].value_len;
		}
	}
	out->headers = hdrs;
	out->n_headers = p->n_spans;
}
