/*
 * The protocol vectors file (shared/vectors/protocol-v1.json, path in env BL_VECTORS) for
 * tests: load it, find a vector by its "name", read a field's string value, decode hex fields
 * into bytes.
 *
 * The file has a fixed, simple shape (an array of flat objects whose values are strings), so it
 * is read with a purpose-built scanner rather than a JSON library. Include after <cmocka.h>;
 * every function is static, for one test program each.
 */
#ifndef BALLAST_TESTS_COMMON_VECTORS_H
#define BALLAST_TESTS_COMMON_VECTORS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VECTORS_SIZE_MAX (1u << 20)
#define HEX_BYTES_MAX 4096u

static char *g_vectors; /* the whole file, NUL-terminated */

/* ------------------------------------------------------------------------------------------ */
/* The vectors scanner.                                                                       */

static char *vectors_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *text = malloc(VECTORS_SIZE_MAX + 1);
    size_t size = text ? fread(text, 1, VECTORS_SIZE_MAX, f) : 0;
    fclose(f);
    if (text == NULL || size == 0 || size == VECTORS_SIZE_MAX) {
        free(text);
        return NULL;
    }
    text[size] = '\0';
    return text;
}

/* Start and end of the object whose "name" is `name` (the end is the next object's "name" or
 * the end of the file). */
static bool vector_find(const char *name, const char **start, const char **end) {
    char key[128];
    snprintf(key, sizeof(key), "\"name\": \"%s\"", name);
    const char *at = strstr(g_vectors, key);
    if (at == NULL) {
        return false;
    }
    const char *next = strstr(at + strlen(key), "\"name\":");
    *start = at;
    *end = next ? next : at + strlen(at);
    return true;
}

/* Copies the string value of `field` in vector `name` into `out` (NUL-terminated). */
static void vector_string(const char *name, const char *field, char *out, size_t out_size) {
    const char *start = NULL, *end = NULL;
    if (!vector_find(name, &start, &end)) {
        fail_msg("vector %s not found", name);
    }
    char key[128];
    snprintf(key, sizeof(key), "\"%s\": \"", field);
    const char *at = strstr(start, key);
    if (at == NULL || at >= end) {
        fail_msg("vector %s has no field %s", name, field);
    }
    at += strlen(key);
    const char *close = strchr(at, '"');
    assert_non_null(close);
    size_t length = (size_t)(close - at);
    assert_true(length < out_size);
    memcpy(out, at, length);
    out[length] = '\0';
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes the hex string `field` of vector `name` into `out`; returns the byte count. */
static size_t vector_bytes(const char *name, const char *field, uint8_t *out, size_t out_size) {
    static char hex[2 * HEX_BYTES_MAX + 1];
    vector_string(name, field, hex, sizeof(hex));
    size_t length = strlen(hex);
    assert_int_equal(length % 2, 0);
    assert_true(length / 2 <= out_size);
    for (size_t i = 0; i < length / 2; i++) {
        int hi = hex_digit(hex[2 * i]);
        int lo = hex_digit(hex[2 * i + 1]);
        assert_true(hi >= 0 && lo >= 0);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return length / 2;
}

/* Loads the file named by env BL_VECTORS into g_vectors; 0, or -1 with a message. */
static int vectors_open(const char *program) {
    const char *path = getenv("BL_VECTORS");
    if (path == NULL) {
        fprintf(stderr, "%s: env BL_VECTORS must name protocol-v1.json\n", program);
        return -1;
    }
    g_vectors = vectors_load(path);
    if (g_vectors == NULL) {
        fprintf(stderr, "%s: cannot read %s\n", program, path);
        return -1;
    }
    return 0;
}

static void vectors_close(void) {
    free(g_vectors);
    g_vectors = NULL;
}

#endif /* BALLAST_TESTS_COMMON_VECTORS_H */
