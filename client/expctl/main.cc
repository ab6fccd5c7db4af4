// expctl: the researcher's command line for the experiment service.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client/expctl/dispatch.h"

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  return expsvc::expctl::RunExpctl(words, std::cout, std::cerr, [](const char* name) { return std::getenv(name); });
}
