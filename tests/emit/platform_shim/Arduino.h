// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not the real SDK header (see README.md here).
#pragma once
#include <stdint.h>
unsigned long millis(void);
unsigned long micros(void);
class HardwareSerial {
 public:
  void begin(unsigned long baud);
  explicit operator bool() const;
  unsigned int println(const char* text);
};
extern HardwareSerial Serial;
