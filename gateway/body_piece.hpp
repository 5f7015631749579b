// A piece of a response body on its way to the client (Exchange::async_write): a string of its
// own, or bytes another object keeps alive. The second lets a bridge hand over the `bytes` a
// Python app returned without copying them (docs/benchmarks.md, "Every row in one command", the
// streaming entry): the connection queues the piece as it is, and the owner goes when the last
// copy of the piece does, on whichever thread that is.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace junction::gateway {

class BodyPiece {
 public:
  // Keeps borrowed bytes alive; its deleter runs on the thread that drops the last copy.
  using Owner = std::shared_ptr<const void>;

  BodyPiece() = default;
  // Most writers hand over a string they made: implicit, as the std::string it replaces was.
  BodyPiece(std::string text) noexcept : text_(std::move(text)) {}  // NOLINT
  BodyPiece(const char* text) : text_(text) {}                      // NOLINT
  // `bytes` stay valid while `owner` lives.
  BodyPiece(std::string_view bytes, Owner owner) noexcept
      : borrowed_(bytes), owner_(std::move(owner)) {}

  std::string_view view() const noexcept { return owner_ ? borrowed_ : std::string_view(text_); }
  const char* data() const noexcept { return view().data(); }
  std::size_t size() const noexcept { return view().size(); }
  bool empty() const noexcept { return size() == 0; }
  bool borrowed() const noexcept { return owner_ != nullptr; }

  // Keeps the first `n` bytes (all of them when there are fewer).
  void truncate(std::size_t n) noexcept {
    if (owner_)
      borrowed_ = borrowed_.substr(0, n);
    else if (n < text_.size())
      text_.resize(n);
  }

  // The bytes as a string of their own: moved out of an owned piece, copied from a borrowed one
  // (whose owner then goes with the piece).
  std::string take_string() && {
    if (!owner_) return std::move(text_);
    std::string copy(borrowed_);
    borrowed_ = {};
    owner_.reset();
    return copy;
  }

 private:
  std::string text_;
  std::string_view borrowed_;
  Owner owner_;
};

}  // namespace junction::gateway
