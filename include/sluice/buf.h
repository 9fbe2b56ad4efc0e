/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <sluice/common.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Byte buffers and cursors (STYLE.md §5 "Bytes").
 *
 * struct sl_buf owns or borrows a block of memory and tracks how much of it is in use. A buffer
 * made by sl_buf_init owns its memory and grows on append; one made by sl_buf_init_fixed wraps
 * the caller's memory and never grows: an append that does not fit fails with SL_E_BUF_FULL and
 * changes nothing.
 *
 * struct sl_cursor is a borrowed, read-only view passed by value. Every read checks bounds: a
 * read that would go past the end fails with SL_E_SHORT_READ and leaves the cursor unchanged.
 * All parsing of untrusted bytes goes through these readers.
 */

struct sl_buf {
    uint8_t *data; /* read-only: start of the memory (NULL when cap is 0) */
    size_t len;    /* read-only: bytes in use, data[0..len) */
    size_t cap;    /* read-only: bytes available at data */
    bool owned;    /* private: data came from sl_alloc and may be reallocated */
};

struct sl_cursor {
    const uint8_t *ptr; /* read-only */
    size_t len;         /* read-only */
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Initialises an owned, growable buffer with room for cap bytes (cap may be 0).
 * Errors: SL_E_NOMEM (buf is then empty and needs no clean-up, though clean-up is harmless).
 */
SL_API SL_MUST_CHECK int sl_buf_init(struct sl_buf *buf, size_t cap);

/* Initialises an owned buffer holding a copy of src. Errors: SL_E_NOMEM. */
SL_API SL_MUST_CHECK int sl_buf_init_copy(struct sl_buf *buf, struct sl_cursor src);

/*
 * Wraps cap bytes of caller memory at mem, empty. Ownership: keeps mem until the buffer is no
 * longer used; the buffer never frees it.
 */
SL_API void sl_buf_init_fixed(struct sl_buf *buf, void *mem, size_t cap);

/* Frees owned memory and leaves buf empty (cap 0). Safe on a zeroed or cleaned-up buffer. */
SL_API void sl_buf_clean_up(struct sl_buf *buf);

/* As sl_buf_clean_up, but first wipes all cap bytes (for keys and other secrets). */
SL_API void sl_buf_clean_up_secure(struct sl_buf *buf);

/* Operations ------------------------------------------------------------------------------ */

/*
 * Makes room for at least `extra` more bytes after len.
 * Errors: SL_E_BUF_FULL for a fixed buffer without room; SL_E_OVERFLOW; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_buf_reserve(struct sl_buf *buf, size_t extra);

/* Appends src (growing an owned buffer). Errors: as sl_buf_reserve; buf is unchanged on error. */
SL_API SL_MUST_CHECK int sl_buf_append(struct sl_buf *buf, struct sl_cursor src);

/* Appends integers; multi-byte ones in network (big-endian) order. Errors: as sl_buf_append. */
SL_API SL_MUST_CHECK int sl_buf_append_u8(struct sl_buf *buf, uint8_t v);
SL_API SL_MUST_CHECK int sl_buf_append_be16(struct sl_buf *buf, uint16_t v);
SL_API SL_MUST_CHECK int sl_buf_append_be32(struct sl_buf *buf, uint32_t v);
SL_API SL_MUST_CHECK int sl_buf_append_be64(struct sl_buf *buf, uint64_t v);

/* Marks len bytes written directly into data[len..cap). Errors: SL_E_BUF_FULL if beyond cap. */
SL_API SL_MUST_CHECK int sl_buf_commit(struct sl_buf *buf, size_t len);

/* Empties the buffer, keeping its memory. */
static inline void sl_buf_reset(struct sl_buf *buf)
{
    buf->len = 0;
}

/* Queries --------------------------------------------------------------------------------- */

/* Bytes that can still be written without growing. */
static inline size_t sl_buf_space(const struct sl_buf *buf)
{
    return buf->cap - buf->len;
}

/* A cursor over the bytes in use. Borrows buf: valid until buf changes. */
SL_API struct sl_cursor sl_buf_cursor(const struct sl_buf *buf);

/* Cursors --------------------------------------------------------------------------------- */

/* A cursor over len bytes at p (borrowed). */
SL_API struct sl_cursor sl_cursor_from(const void *p, size_t len);

/* A cursor over a NUL-terminated string, without the NUL (NULL gives an empty cursor). */
SL_API struct sl_cursor sl_cursor_from_cstr(const char *s);

/* Skips n bytes. Errors: SL_E_SHORT_READ (cursor unchanged). */
SL_API SL_MUST_CHECK int sl_cursor_skip(struct sl_cursor *cur, size_t n);

/* Moves the first n bytes into *head (a view, no copy). Errors: SL_E_SHORT_READ (unchanged). */
SL_API SL_MUST_CHECK int sl_cursor_split(struct sl_cursor *cur, size_t n, struct sl_cursor *head);

/* Copies n bytes into dst and advances. Errors: SL_E_SHORT_READ (cursor unchanged). */
SL_API SL_MUST_CHECK int sl_cursor_read(struct sl_cursor *cur, void *dst, size_t n);

/* Reads integers; multi-byte ones in network (big-endian) order. Errors: SL_E_SHORT_READ. */
SL_API SL_MUST_CHECK int sl_cursor_read_u8(struct sl_cursor *cur, uint8_t *out);
SL_API SL_MUST_CHECK int sl_cursor_read_be16(struct sl_cursor *cur, uint16_t *out);
SL_API SL_MUST_CHECK int sl_cursor_read_be32(struct sl_cursor *cur, uint32_t *out);
SL_API SL_MUST_CHECK int sl_cursor_read_be64(struct sl_cursor *cur, uint64_t *out);

/* True when both views hold the same bytes. */
SL_API bool sl_cursor_eq(struct sl_cursor a, struct sl_cursor b);

/* True when the view holds exactly the characters of s (without its NUL). */
SL_API bool sl_cursor_eq_cstr(struct sl_cursor a, const char *s);

SL_END_DECLS

#endif /* SL_BUF_H */
