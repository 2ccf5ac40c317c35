/*
 * The C API is implemented in Swift (Sources/MTZCAPI, functions exported with @_cdecl); this
 * target only publishes include/mtz.h. SwiftPM needs one source file per C target, and compiling
 * the header here checks on every build that it is valid C.
 */
#include "mtz.h"
