#include "gateway/server/split.hpp"

#include <utility>

#include "gateway/forwarding_exchange.hpp"
#include "gateway/text.hpp"

namespace junction::gateway {

namespace {

// SplitMix64's finaliser (Steele, Lea, Flood 2014): consecutive inputs give well-spread outputs.
std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a(std::string_view text) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return hash;
}

// Adds the decision's headers to the answer of one app of a split.
class SplitExchange final : public ForwardingExchange {
 public:
  SplitExchange(std::shared_ptr<Exchange> inner, Headers extra)
      : ForwardingExchange(std::move(inner)), extra_(std::move(extra)) {}

  void start(ResponseHead head) override {
    // start() may come again before the first write (an app that fails gets a 500 instead):
    // every head carries the headers.
    head.headers.insert(head.headers.end(), extra_.begin(), extra_.end());
    ForwardingExchange::start(std::move(head));
  }

 private:
  Headers extra_;
};

}  // namespace

SplitChooser::SplitChooser(SplitOptions options)
    : options_(std::make_shared<const SplitOptions>(std::move(options))),
      picks_(std::make_shared<std::atomic<std::uint64_t>>(0)) {}

std::size_t SplitChooser::share_at(std::uint64_t point) const noexcept {
  const auto& shares = options_->shares;
  std::uint64_t upto = 0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    upto += shares[i].percent;
    if (point < upto) return i;
  }
  return shares.empty() ? 0 : shares.size() - 1;
}

std::optional<std::size_t> SplitChooser::from_cookie(const RequestHead& head) const {
  // RFC 6265 §5.4: one Cookie field of "name=value" pairs joined by "; " (HTTP/2 may send
  // several fields, RFC 9113 §8.2.3). Cookie names are case-sensitive.
  std::optional<std::size_t> found;
  for (const auto& [name, value] : head.headers) {
    if (found || !iequals(name, "cookie")) continue;
    for_each_list_element_sep(value, ';', [&](std::string_view pair) {
      if (found || !pair.starts_with(kSplitCookie) || pair.size() <= kSplitCookie.size() ||
          pair[kSplitCookie.size()] != '=')
        return;
      auto app = pair.substr(kSplitCookie.size() + 1);
      const auto& shares = options_->shares;
      for (std::size_t i = 0; i < shares.size(); ++i)
        if (shares[i].app == app) found = i;
    });
  }
  return found;
}

std::size_t SplitChooser::operator()(const RequestHead& head) const {
  const auto& options = *options_;
  if (options.sticky == Sticky::cookie)
    if (auto named = from_cookie(head)) return *named;
  if (options.sticky == Sticky::client)
    return share_at(mix(fnv1a(head.client.host) ^ options.seed) % 100);
  auto n = picks_->fetch_add(1, std::memory_order_relaxed) + 1;
  return share_at(mix(options.seed + n * 0x9e3779b97f4a7c15ULL) % 100);
}

SplitMemberApp::SplitMemberApp(std::shared_ptr<App> app, SplitChooser chooser, std::size_t index,
                               bool expose_decision)
    : app_(std::move(app)),
      chooser_(std::move(chooser)),
      index_(index),
      expose_decision_(expose_decision) {}

void SplitMemberApp::handle(std::shared_ptr<Exchange> exchange) {
  const auto& options = chooser_.options();
  const auto& name = options.shares[index_].app;
  Headers extra;
  if (options.sticky == Sticky::cookie && chooser_.from_cookie(exchange->request()) != index_)
    extra.emplace_back("Set-Cookie", std::string(kSplitCookie) + "=" + name + "; Path=" +
                                         options.cookie_path + "; HttpOnly; SameSite=Lax");
  if (expose_decision_) extra.emplace_back("X-Junction-App", name);
  if (extra.empty()) return app_->handle(std::move(exchange));
  app_->handle(std::make_shared<SplitExchange>(std::move(exchange), std::move(extra)));
}

}  // namespace junction::gateway
