#include "cimagecodecs.h"
int cimagecodecs_version(void) { return 1; }
