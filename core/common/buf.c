/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/buf.h>

#include <sluice/alloc.h>

#include "guard.h"
#include "common_internal.h"

#include <string.h>

bool sl__buf_is_valid(const struct sl_buf *buf)
{
    return buf && buf->len <= buf->cap && (buf->cap == 0 || buf->data != NULL);
}

int sl_buf_init(struct sl_buf *buf, size_t cap)
{
    *buf = (struct sl_buf){.owned = true};
    if (cap == 0) {
        return 0;
    }
    buf->data = sl_alloc(cap);
    SL_ENSURE(buf->data, SL_E_NOMEM);
    buf->cap = cap;
    return 0;
}

int sl_buf_init_copy(struct sl_buf *buf, struct sl_cursor src)
{
    SL_TRY(sl_buf_init(buf, src.len));
    if (src.len) {
        memcpy(buf->data, src.ptr, src.len);
    }
    buf->len = src.len;
    return 0;
}

void sl_buf_init_fixed(struct sl_buf *buf, void *mem, size_t cap)
{
    *buf = (struct sl_buf){.data = mem, .cap = mem ? cap : 0, .owned = false};
}

void sl_buf_clean_up(struct sl_buf *buf)
{
    if (buf->owned) {
        sl_free(buf->data);
    }
    *buf = (struct sl_buf){0};
}

void sl_buf_clean_up_secure(struct sl_buf *buf)
{
    if (buf->data) {
        sl_secure_zero(buf->data, buf->cap);
    }
    sl_buf_clean_up(buf);
}

/*
 * Growth doubles the capacity (amortised O(1) appends) but never by less than what is needed,
 * and fails cleanly rather than wrapping around near SIZE_MAX.
 */
static int grow(struct sl_buf *buf, size_t need)
{
    size_t cap = buf->cap > SIZE_MAX / 2 ? SIZE_MAX : buf->cap * 2;
    if (cap < need) {
        cap = need;
    }
    if (cap < 16) {
        cap = 16;
    }
    uint8_t *data = sl_realloc(buf->data, cap);
    SL_ENSURE(data, SL_E_NOMEM);
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int sl_buf_reserve(struct sl_buf *buf, size_t extra)
{
    SL_ASSERT(sl__buf_is_valid(buf));
    if (extra <= buf->cap - buf->len) {
        return 0;
    }
    SL_ENSURE(buf->owned, SL_E_BUF_FULL);
    SL_ENSURE(extra <= SIZE_MAX - buf->len, SL_E_OVERFLOW);
    return grow(buf, buf->len + extra);
}

int sl_buf_append(struct sl_buf *buf, struct sl_cursor src)
{
    if (src.len == 0) {
        return 0;
    }
    /* src may view this very buffer; growing would move it, so remember where it was. */
    bool is_self = buf->data && src.ptr >= buf->data && src.ptr < buf->data + buf->len;
    size_t self_offset = is_self ? (size_t)(src.ptr - buf->data) : 0;
    SL_TRY(sl_buf_reserve(buf, src.len));
    const uint8_t *from = is_self ? buf->data + self_offset : src.ptr;
    memmove(buf->data + buf->len, from, src.len);
    buf->len += src.len;
    return 0;
}

int sl_buf_append_u8(struct sl_buf *buf, uint8_t v)
{
    return sl_buf_append(buf, sl_cursor_from(&v, 1));
}

int sl_buf_append_be16(struct sl_buf *buf, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return sl_buf_append(buf, sl_cursor_from(b, sizeof(b)));
}

int sl_buf_append_be32(struct sl_buf *buf, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return sl_buf_append(buf, sl_cursor_from(b, sizeof(b)));
}

int sl_buf_append_be64(struct sl_buf *buf, uint64_t v)
{
    SL_TRY(sl_buf_reserve(buf, 8));
    SL_TRY(sl_buf_append_be32(buf, (uint32_t)(v >> 32)));
    return sl_buf_append_be32(buf, (uint32_t)v);
}

int sl_buf_commit(struct sl_buf *buf, size_t len)
{
    SL_ENSURE(len <= buf->cap - buf->len, SL_E_BUF_FULL);
    buf->len += len;
    return 0;
}

struct sl_cursor sl_buf_cursor(const struct sl_buf *buf)
{
    return sl_cursor_from(buf->data, buf->len);
}

struct sl_cursor sl_cursor_from(const void *p, size_t len)
{
    return (struct sl_cursor){.ptr = p, .len = p ? len : 0};
}

struct sl_cursor sl_cursor_from_cstr(const char *s)
{
    return s ? sl_cursor_from(s, strlen(s)) : sl_cursor_from(NULL, 0);
}

int sl_cursor_skip(struct sl_cursor *cur, size_t n)
{
    SL_ENSURE(n <= cur->len, SL_E_SHORT_READ);
    cur->ptr += n;
    cur->len -= n;
    return 0;
}

int sl_cursor_split(struct sl_cursor *cur, size_t n, struct sl_cursor *head)
{
    SL_ENSURE(n <= cur->len, SL_E_SHORT_READ);
    *head = sl_cursor_from(cur->ptr, n);
    return sl_cursor_skip(cur, n);
}

int sl_cursor_read(struct sl_cursor *cur, void *dst, size_t n)
{
    SL_ENSURE(n <= cur->len, SL_E_SHORT_READ);
    if (n) {
        memcpy(dst, cur->ptr, n);
    }
    return sl_cursor_skip(cur, n);
}

int sl_cursor_read_u8(struct sl_cursor *cur, uint8_t *out)
{
    return sl_cursor_read(cur, out, 1);
}

int sl_cursor_read_be16(struct sl_cursor *cur, uint16_t *out)
{
    uint8_t b[2];
    SL_TRY(sl_cursor_read(cur, b, sizeof(b)));
    *out = (uint16_t)((unsigned)b[0] << 8 | b[1]);
    return 0;
}

int sl_cursor_read_be32(struct sl_cursor *cur, uint32_t *out)
{
    uint8_t b[4];
    SL_TRY(sl_cursor_read(cur, b, sizeof(b)));
    *out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

int sl_cursor_read_be64(struct sl_cursor *cur, uint64_t *out)
{
    uint8_t b[8];
    SL_TRY(sl_cursor_read(cur, b, sizeof(b)));
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(b); i++) {
        v = v << 8 | b[i];
    }
    *out = v;
    return 0;
}

bool sl_cursor_eq(struct sl_cursor a, struct sl_cursor b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool sl_cursor_eq_cstr(struct sl_cursor a, const char *s)
{
    return sl_cursor_eq(a, sl_cursor_from_cstr(s));
}
