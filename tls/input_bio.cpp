#include "tls/input_bio.hpp"

#include <algorithm>
#include <cstring>

namespace junction::tls {

namespace {

int input_read(BIO* bio, char* out, std::size_t length, std::size_t* read) {
  auto* input = static_cast<CipherInput*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (input->begin == input->end) {
    if (!input->eof) BIO_set_retry_read(bio);
    return 0;
  }
  auto n = std::min(length, input->end - input->begin);
  std::memcpy(out, input->bytes.get() + input->begin, n);
  input->begin += n;
  if (input->begin == input->end) input->begin = input->end = 0;
  *read = n;
  return 1;
}

long input_ctrl(BIO* bio, int command, long, void*) {
  auto* input = static_cast<CipherInput*>(BIO_get_data(bio));
  switch (command) {
    case BIO_CTRL_PENDING:
      return static_cast<long>(input->end - input->begin);
    case BIO_CTRL_EOF:
      return input->eof && input->begin == input->end;
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

int input_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* input_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "junction input");
    BIO_meth_set_read_ex(m, input_read);
    BIO_meth_set_ctrl(m, input_ctrl);
    BIO_meth_set_create(m, input_create);
    return m;
  }();
  return method;
}

}  // namespace

BIO* new_input_bio(CipherInput* input) {
  BIO* bio = BIO_new(input_method());
  if (bio != nullptr) BIO_set_data(bio, input);
  return bio;
}

}  // namespace junction::tls
