/* The version of the library actually linked (include/libstyle.h, "Version"). */
#include "core/common.h"

const char *style_version_string(void)
{
    return LIBSTYLE_VERSION_STRING;
}

unsigned style_version_number(void)
{
    return LIBSTYLE_VERSION_NUMBER;
}
