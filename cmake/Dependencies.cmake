# Debian 12 packages only. See README "Why each library is here".
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)            # SHA-256 (EVP, uses SHA-NI), middleman TLS
find_package(SQLite3 REQUIRED)            # durable metadata
find_package(nlohmann_json REQUIRED)      # manifests, admin API
find_package(CLI11 REQUIRED)              # command line
find_package(spdlog REQUIRED)             # one-line logs
find_package(tomlplusplus REQUIRED)       # cluster file
find_package(Catch2 2 REQUIRED)           # tests
find_package(PkgConfig REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(ARCHIVE REQUIRED IMPORTED_TARGET libarchive)

# libcaf-dev ships no CMake config or pkg-config file: wrap it by hand.
# Never glob caf*: libboost-all-dev pulls an unrelated libcaf_openmpi.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
find_library(CAF_OPENSSL_LIBRARY caf_openssl REQUIRED)
add_library(caf INTERFACE)
target_include_directories(caf SYSTEM INTERFACE ${CAF_INCLUDE_DIR})
target_link_libraries(caf INTERFACE ${CAF_OPENSSL_LIBRARY} ${CAF_IO_LIBRARY}
  ${CAF_CORE_LIBRARY} OpenSSL::SSL OpenSSL::Crypto Threads::Threads)

# Boost.Beast/Asio are header-only here.
find_path(BOOST_BEAST_INCLUDE_DIR boost/beast.hpp REQUIRED)
add_library(beast INTERFACE)
target_include_directories(beast SYSTEM INTERFACE ${BOOST_BEAST_INCLUDE_DIR})
target_compile_definitions(beast INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
target_link_libraries(beast INTERFACE Threads::Threads)

# Light debug info keeps template-heavy objects small and links fast.
add_compile_options(-Wall -Wextra -Wno-unused-parameter)
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  add_compile_options(-g1)
endif()
