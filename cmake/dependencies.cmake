# Every dependency comes from a Debian 12 package (README.md, "Quick start", installs them all). A
# missing one stops the configure step with the name of the package that provides it.

function(junction_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR "Junction needs ${what}: install the Debian package '${package}' "
                        "(scripts/setup.sh installs everything).")
  endif()
endfunction()

find_package(Threads REQUIRED)

# Boost 1.81 (Asio with C++20 coroutines and awaitable operators); Debian's default 1.74 is too old.
find_package(Boost 1.81...<1.82 CONFIG QUIET COMPONENTS headers)
junction_require(Boost_FOUND "Boost 1.81" libboost1.81-dev)

# llhttp ships as C sources; we compile them in-tree as a static library.
set(LLHTTP_SOURCE_DIR /usr/share/llhttp CACHE PATH "llhttp C sources")
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "llhttp header")
if(NOT EXISTS ${LLHTTP_SOURCE_DIR}/llhttp.c OR NOT EXISTS ${LLHTTP_INCLUDE_DIR}/llhttp.h)
  junction_require(FALSE "the llhttp C sources" node-llhttp)
endif()
add_library(llhttp STATIC ${LLHTTP_SOURCE_DIR}/llhttp.c ${LLHTTP_SOURCE_DIR}/api.c
                          ${LLHTTP_SOURCE_DIR}/http.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
# Strict mode: llhttp's stricter state machine (e.g. CR must be followed by LF everywhere).
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
# Its three files are compiled as they ship, not batched.
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99 UNITY_BUILD OFF)

find_package(PkgConfig QUIET)
junction_require(PkgConfig_FOUND "pkg-config" pkg-config)
# nghttp2 for HTTP/2 (http2/): 1.52 as Debian 12 ships it, whose security updates add
# nghttp2_option_set_max_continuations and nghttp2_option_set_stream_reset_rate_limit.
pkg_check_modules(NGHTTP2 QUIET IMPORTED_TARGET libnghttp2>=1.52)
junction_require(NGHTTP2_FOUND "nghttp2 1.52 or later" libnghttp2-dev)
include(CheckSymbolExists)
set(CMAKE_REQUIRED_INCLUDES ${NGHTTP2_INCLUDE_DIRS})
set(CMAKE_REQUIRED_LIBRARIES ${NGHTTP2_LINK_LIBRARIES})
check_symbol_exists(nghttp2_option_set_max_continuations nghttp2/nghttp2.h
                    JUNCTION_NGHTTP2_HAS_MAX_CONTINUATIONS)
unset(CMAKE_REQUIRED_INCLUDES)
unset(CMAKE_REQUIRED_LIBRARIES)
junction_require(JUNCTION_NGHTTP2_HAS_MAX_CONTINUATIONS
                 "an nghttp2 with the CONTINUATION flood fix (CVE-2024-28182)" libnghttp2-dev)

find_package(OpenSSL 3 QUIET)
junction_require(OPENSSL_FOUND "OpenSSL 3" libssl-dev)

find_package(fmt CONFIG QUIET)
junction_require(fmt_FOUND "fmt" libfmt-dev)
find_package(spdlog CONFIG QUIET)
junction_require(spdlog_FOUND "spdlog" libspdlog-dev)
# Both compiled into Junction from their headers (spdlog's header-only mode over fmt's), so the
# extension module and its wheel carry no libspdlog/libfmt of their own. Debian's
# spdlog::spdlog_header_only would still link the shared fmt, hence a target of our own.
add_library(junction_logging INTERFACE)
get_target_property(junction_spdlog_includes spdlog::spdlog_header_only INTERFACE_INCLUDE_DIRECTORIES)
target_include_directories(junction_logging SYSTEM INTERFACE ${junction_spdlog_includes})
target_compile_definitions(junction_logging INTERFACE SPDLOG_HEADER_ONLY SPDLOG_FMT_EXTERNAL)
target_link_libraries(junction_logging INTERFACE fmt::fmt-header-only Threads::Threads)
find_package(CLI11 CONFIG QUIET)
junction_require(CLI11_FOUND "CLI11" libcli11-dev)
find_package(tomlplusplus CONFIG QUIET)
junction_require(tomlplusplus_FOUND "toml++" libtomlplusplus-dev)

# The CPython the extension module is built for: the one scikit-build-core runs (pip install),
# else the python3 first on PATH. Its headers are all the module needs; the unit tests, which
# embed an interpreter, also need its shared libpython.
set(JUNCTION_PYTHON_COMPONENTS Interpreter Development.Module)
if(JUNCTION_BUILD_TESTS)
  list(APPEND JUNCTION_PYTHON_COMPONENTS Development.Embed)
endif()
find_package(Python 3.11 QUIET COMPONENTS ${JUNCTION_PYTHON_COMPONENTS})
if(NOT Python_FOUND)
  if(Python_Interpreter_FOUND)
    set(JUNCTION_PYTHON_DEV "python${Python_VERSION_MAJOR}.${Python_VERSION_MINOR}-dev")
  else()
    set(JUNCTION_PYTHON_DEV "python3-dev")
  endif()
  message(FATAL_ERROR "Junction needs CPython 3.11 or later with its headers "
                      "(found: ${Python_EXECUTABLE} ${Python_VERSION}): install the Debian package "
                      "'${JUNCTION_PYTHON_DEV}', or use a Python built with its headers.")
endif()
# pybind11 from PyPI (a build requirement in pyproject.toml), found through the build
# environment; it uses the Python found above.
set(PYBIND11_FINDPYTHON ON)
find_package(pybind11 2.11 CONFIG QUIET)
if(NOT pybind11_FOUND)
  message(FATAL_ERROR "Junction needs pybind11 2.11 or later: `pip install pybind11` into the "
                      "environment that builds it (pip install . does this itself).")
endif()

if(JUNCTION_BUILD_TESTS)
  find_package(Catch2 2 CONFIG QUIET)
  junction_require(Catch2_FOUND "Catch2 v2" catch2)
endif()
