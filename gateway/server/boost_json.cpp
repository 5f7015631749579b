// Boost.JSON, header-only: its sources are compiled once, here (boost/json/src.hpp), so the
// wheel needs no libboost_json beside it. The shadow routes parse JSON answers with it.
#include <boost/json/src.hpp>
