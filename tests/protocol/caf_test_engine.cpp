// The one translation unit that defines CAF's test engine (its globals are
// needed by the test coordinator fixture); Catch2 provides main().
#define CAF_TEST_NO_MAIN
#include <caf/test/unit_test_impl.hpp>
