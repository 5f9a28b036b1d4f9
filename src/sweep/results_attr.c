/* The results file's attributes (results_h5.h), moved out of results.c
 * unchanged: scalar string and int64 attributes, written, and read back
 * with a check of their class and shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "modsweep/error.h"

#include "results_h5.h"

/* ---- attributes ---------------------------------------------------------------- */

int attr_write_str(hid_t obj, const char *name, const char *value, const char *path) {
    hid_t t = H5Tcopy(H5T_C_S1), sp = -1, a = -1;
    int rc = 0;
    if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        (sp = H5Screate(H5S_SCALAR)) < 0 ||
        (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, &value) < 0)
        rc = h5_fail(path, "cannot write attribute");
    if (a >= 0) h5_check(H5Aclose(a), &rc, path, "cannot close an attribute");
    if (sp >= 0) h5_check(H5Sclose(sp), &rc, path, "cannot close a dataspace");
    if (t >= 0) h5_check(H5Tclose(t), &rc, path, "cannot close a datatype");
    return rc;
}

int attr_write_i64(hid_t obj, const char *name, int64_t value, const char *path) {
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    int rc = 0;
    if (sp < 0 || (a = H5Acreate2(obj, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, H5T_NATIVE_INT64, &value) < 0)
        rc = h5_fail(path, "cannot write attribute");
    if (a >= 0) h5_check(H5Aclose(a), &rc, path, "cannot close an attribute");
    if (sp >= 0) h5_check(H5Sclose(sp), &rc, path, "cannot close a dataspace");
    return rc;
}

/* Whether attribute a holds exactly one value (scalar, or one element) of
 * type class `cls`: what every attribute modsweep writes holds, checked
 * before reading so that a changed file cannot make HDF5 write more than
 * one value into the caller's buffer. */
static int attr_is_single(hid_t a, H5T_class_t cls) {
    hid_t sp = H5Aget_space(a), t = H5Aget_type(a);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    int ok = n == 1 && c == cls && (cls != H5T_STRING || H5Tis_variable_str(t) > 0);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

/* Opens attribute `name` of obj into *a, and checks that it holds one value
 * of class cls (attr_is_single); a missing or other attribute is
 * MS_EFORMAT naming it, with nothing left open. */
static int attr_open_single(hid_t obj, const char *name, H5T_class_t cls, hid_t *a,
                            const char *path) {
    *a = H5Aopen(obj, name, H5P_DEFAULT);
    if (*a < 0) {
        h5_fail(path, "");
        return ms_err_set(MS_EFORMAT,
                          "%s: attribute '%s' missing (not a modsweep results file, or damaged)",
                          path, name);
    }
    if (attr_is_single(*a, cls)) return 0;
    H5Aclose(*a);
    *a = -1;
    return ms_err_set(MS_EFORMAT, "%s: attribute '%s' is not one %s (file damaged?)", path, name,
                      cls == H5T_STRING ? "string" : "integer");
}

int attr_read_i64(hid_t obj, const char *name, int64_t *value, const char *path) {
    hid_t a;
    int rc = attr_open_single(obj, name, H5T_INTEGER, &a, path);
    if (rc) return rc;
    if (H5Aread(a, H5T_NATIVE_INT64, value) < 0) rc = h5_fail(path, "cannot read an attribute");
    h5_check(H5Aclose(a), &rc, path, "cannot close an attribute");
    if (rc == MS_EHDF5) return ms_err_set(MS_EFORMAT, "%s: attribute '%s' unreadable", path, name);
    return rc;
}

/* Reads a string attribute into a new malloc'd string. */
int attr_read_str(hid_t obj, const char *name, char **out, const char *path) {
    *out = NULL;
    hid_t a;
    int rc = attr_open_single(obj, name, H5T_STRING, &a, path);
    if (rc) return rc;
    hid_t t = H5Tcopy(H5T_C_S1), sp = -1;
    char *v = NULL;
    if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        H5Aread(a, t, &v) < 0 || !v) {
        rc = h5_fail(path, "cannot read a string attribute");
    } else {
        *out = strdup(v);
        if (!*out) rc = ms_err_set(MS_ENOMEM, "%s: out of memory", path);
        sp = H5Aget_space(a);
        if (sp < 0 || H5Dvlen_reclaim(t, sp, H5P_DEFAULT, &v) < 0)
            h5_check(-1, &rc, path, "cannot release a string attribute");
    }
    if (sp >= 0) h5_check(H5Sclose(sp), &rc, path, "cannot close a dataspace");
    if (t >= 0) h5_check(H5Tclose(t), &rc, path, "cannot close a datatype");
    h5_check(H5Aclose(a), &rc, path, "cannot close an attribute");
    return rc;
}
