// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not the real SDK header (see README.md here).
#pragma once
#ifdef __cplusplus
extern "C" {
#endif
void printk(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
#ifdef __cplusplus
}
#endif
