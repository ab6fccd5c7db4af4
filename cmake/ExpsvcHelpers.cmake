# Helper functions so each folder's CMakeLists.txt stays a list of targets.

# expsvc_library(NAME SOURCES ... DEPS ...)
function(expsvc_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# expsvc_test(NAME SOURCES ... DEPS ... LABELS unit|db|e2e|gpu [TIMEOUT s])
function(expsvc_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "EXPSVC_BUILD_DIR=${PROJECT_BINARY_DIR};EXPSVC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# expsvc_torch_target(TARGET): links LibTorch and gives the target the shared
# precompiled header (each torch/torch.h translation unit costs ~20 s here).
function(expsvc_torch_target target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  target_precompile_headers(${target} PRIVATE <torch/torch.h>)
endfunction()
