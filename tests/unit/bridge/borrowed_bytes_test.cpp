// A body piece borrowed from a Python bytes object: it shows the object's own bytes (no copy),
// holds a reference while any copy of the piece lives, and gives it back at once when dropped
// with the GIL held, or at the next release_deferred() when dropped on a thread without it (an
// I/O thread). Small objects are copied instead (body_piece, under kBorrowMin).
#include "bridge/borrowed_bytes.hpp"

#include <pybind11/embed.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "support/python.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

py::bytes large_bytes(char fill) {
  return py::bytes(std::string(kBorrowMin + 100, fill));
}

TEST_CASE("borrowed bytes: the piece shows the object's bytes and holds a reference",
          "[borrowed_bytes][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  py::bytes data = large_bytes('x');
  auto before = Py_REFCNT(data.ptr());
  {
    auto piece = body_piece(data.ptr());
    CHECK(piece.borrowed());
    CHECK(piece.data() == PyBytes_AS_STRING(data.ptr()));  // the object's bytes, not a copy
    CHECK(piece.size() == kBorrowMin + 100);
    CHECK(Py_REFCNT(data.ptr()) == before + 1);
    auto copy = piece;  // copies of the piece share the one reference
    CHECK(Py_REFCNT(data.ptr()) == before + 1);
  }
  CHECK(Py_REFCNT(data.ptr()) == before);  // dropped with the GIL held: given back at once
}

TEST_CASE("borrowed bytes: dropped without the GIL, the reference waits for release_deferred",
          "[borrowed_bytes][python]") {
  test::ensure_python();
  std::optional<gateway::BodyPiece> piece;
  py::object data;
  Py_ssize_t before = 0;
  {
    py::gil_scoped_acquire gil;
    data = large_bytes('y');
    before = Py_REFCNT(data.ptr());
    piece = body_piece(data.ptr());
  }
  // An I/O thread sends the bytes and drops the piece: it may not touch the count.
  std::thread io([&piece] {
    CHECK(piece->view() == std::string(kBorrowMin + 100, 'y'));
    piece.reset();
  });
  io.join();
  py::gil_scoped_acquire gil;
  CHECK(Py_REFCNT(data.ptr()) == before + 1);
  release_deferred();
  CHECK(Py_REFCNT(data.ptr()) == before);
  release_deferred();  // nothing left: no second decref
  CHECK(Py_REFCNT(data.ptr()) == before);
  data = py::object();
}

TEST_CASE("borrowed bytes: a small object is copied, a truncated piece keeps its first bytes",
          "[borrowed_bytes][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  py::bytes small(std::string(kBorrowMin - 1, 's'));
  auto before = Py_REFCNT(small.ptr());
  auto piece = body_piece(small.ptr());
  CHECK_FALSE(piece.borrowed());
  CHECK(piece.data() != PyBytes_AS_STRING(small.ptr()));
  CHECK(piece.view() == std::string(kBorrowMin - 1, 's'));
  CHECK(Py_REFCNT(small.ptr()) == before);

  py::bytes large = large_bytes('l');
  auto large_before = Py_REFCNT(large.ptr());
  auto borrowed = body_piece(large.ptr());
  borrowed.truncate(10);
  CHECK(borrowed.view() == "llllllllll");
  CHECK(std::move(borrowed).take_string() == "llllllllll");
  CHECK(Py_REFCNT(large.ptr()) == large_before);  // take_string copied and let the object go
}

}  // namespace
}  // namespace junction::bridge
