# Build options shared by every kube-customs target, carried by an interface target
# rather than global flag strings.
add_library(kc_build_options INTERFACE)
target_compile_options(kc_build_options INTERFACE -Wall -Wextra -Wno-unused-parameter)
target_compile_definitions(kc_build_options INTERFACE
  KC_VERSION="${PROJECT_VERSION}"
  BOOST_ASIO_NO_DEPRECATED
  BOOST_BEAST_USE_STD_STRING_VIEW)
if(KC_ENABLE_SANITIZERS)
  target_compile_options(kc_build_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(kc_build_options INTERFACE -fsanitize=address,undefined)
endif()
if(KC_BUILD_FUZZERS)
  # Coverage instrumentation in every library, so that the fuzzers see the branches of the
  # code they drive (not only of their own entry point).
  target_compile_options(kc_build_options INTERFACE -fsanitize=fuzzer-no-link)
  target_link_options(kc_build_options INTERFACE -fsanitize=fuzzer-no-link)
endif()

# kc_library(NAME SRCS ... DEPS ...): a static library of the project rooted at the repo.
function(kc_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC kc_build_options ${ARG_DEPS})
endfunction()

# kc_test(NAME SRCS ... DEPS ...): a Catch2 test binary registered with ctest.
function(kc_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE kc_test_main ${ARG_DEPS})
  target_compile_definitions(${name} PRIVATE
    KC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    KC_BINARY_DIR="${PROJECT_BINARY_DIR}")
  catch_discover_tests(${name} TEST_PREFIX "${name}." PROPERTIES TIMEOUT 120)
endfunction()

# kc_fuzzer(NAME SRCS ... DEPS ...): a libFuzzer target, built only with KC_BUILD_FUZZERS (clang).
# Its corpus lives in test/<dir>/corpus/<name>/ and is replayed by an ordinary test.
function(kc_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  if(NOT KC_BUILD_FUZZERS)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()
