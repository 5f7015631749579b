// Response bytes sent straight from the `bytes` object a Python app returned: a body piece that
// holds a reference to the object instead of a copy of its bytes (docs/benchmarks.md, "Every
// row in one command", the streaming entry).
//
// The connection drops the piece on its I/O thread once the bytes are sent. That thread does not
// hold the GIL and must not wait for it, and a reference count may only change under the GIL, so
// it leaves the reference in a list instead, and the next Python thread that calls
// release_deferred() gives it back: the pool threads after each request and a streaming WSGI
// response after each piece, the ASGI loop after each batch of completions. PyO3 does the same
// for a reference dropped without the GIL. A thread that holds the GIL when it drops a piece
// gives the reference back at once.
#pragma once

#include <pybind11/pybind11.h>

#include "gateway/body_piece.hpp"

namespace junction::bridge {

// Below this size a piece is copied: HTTP/1 copies so small a piece into its output anyway
// (http1's kGatherMin), and a copy costs less than a reference given back later.
inline constexpr std::size_t kBorrowMin = 16 * 1024;

// The piece for a bytes object (which cannot change): from kBorrowMin bytes on, the object's
// own bytes with a reference to it; a copy below. GIL held.
gateway::BodyPiece body_piece(PyObject* bytes);

// Gives back the references other threads let go of. GIL held; an atomic load when there are
// none.
void release_deferred() noexcept;

// The interpreter is going away: gives back what is waiting (GIL held) and, from now on, leaks
// a reference let go of instead of keeping it for a Python thread that will not come.
void stop_deferred_release() noexcept;

}  // namespace junction::bridge
