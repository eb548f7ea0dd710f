#ifndef CKERNELS_H
#define CKERNELS_H
// Hand-written compute kernels for the engine (compiled per function for the CPU they need).
int ckernels_version(void);
#endif
