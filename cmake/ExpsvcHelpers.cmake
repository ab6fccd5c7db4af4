# Helper functions so each folder's CMakeLists.txt stays a list of targets.
include(GoogleTest)

# expsvc_library(NAME SOURCES ... DEPS ...): a static library, also reachable
# as expsvc::<NAME without the expsvc_ prefix> (expsvc_fs -> expsvc::fs).
function(expsvc_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  string(REGEX REPLACE "^expsvc_" "" short_name ${name})
  add_library(expsvc::${short_name} ALIAS ${name})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
endfunction()

# expsvc_test(NAME SOURCES ... DEPS ... LABELS unit|db|e2e|gpu [TIMEOUT s] [WHOLE])
# Unit tests are discovered case by case (ctest lists each TEST). Labels db,
# e2e and gpu, and tests marked WHOLE, run as one ctest entry per binary:
# their suites share an expensive fixture (a PostgreSQL cluster, a trained
# model, a trained tokenizer) that one process per case would rebuild.
function(expsvc_test name)
  cmake_parse_arguments(ARG "WHOLE" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set(environment "EXPSVC_BUILD_DIR=${PROJECT_BINARY_DIR};EXPSVC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(ARG_WHOLE OR NOT ARG_LABELS STREQUAL "unit")
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
      ENVIRONMENT "${environment}")
  else()
    gtest_discover_tests(${name}
      TEST_PREFIX "${name}."
      DISCOVERY_MODE PRE_TEST
      DISCOVERY_TIMEOUT 60
      PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT} ENVIRONMENT "${environment}")
  endif()
endfunction()

# expsvc_define_torch_pch(): the one precompiled <torch/torch.h> of the build.
# Each torch/torch.h translation unit costs ~20 s here, and each precompiled
# copy ~750 MB of disk: one per target filled CI machines' disks, so every
# Torch target reuses this one (same flags: -D macros that only the tests add,
# such as GTEST_HAS_PTHREAD, do not appear in Torch's headers).
function(expsvc_define_torch_pch)
  add_library(expsvc_torch_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/torch_pch.cc)
  target_link_libraries(expsvc_torch_pch PUBLIC ${TORCH_LIBRARIES})
  target_precompile_headers(expsvc_torch_pch PRIVATE <torch/torch.h>)
endfunction()

# expsvc_torch_pch(TARGET): compile TARGET with the shared precompiled header.
function(expsvc_torch_pch target)
  target_precompile_headers(${target} REUSE_FROM expsvc_torch_pch)
endfunction()

# expsvc_torch_target(TARGET): links LibTorch and uses the shared precompiled
# header.
function(expsvc_torch_target target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  expsvc_torch_pch(${target})
endfunction()
