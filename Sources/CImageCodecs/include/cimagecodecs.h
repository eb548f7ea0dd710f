#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
// C shim that owns setjmp for libjpeg and libpng (Swift cannot call setjmp).
int cimagecodecs_version(void);
#endif
