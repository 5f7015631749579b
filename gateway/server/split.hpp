// A split route (docs/migration.md, "Split"): a share of the requests goes to each app, so a new
// app takes 10 % of a route's traffic, then 50 %, while the old one serves the rest.
//
// A client stays with the app it got (sticky): `cookie` sets junction_route=APP on its first
// answer and honours it after (the cookie's Path is the route's prefix); `client` hashes the
// client's address; `none` picks afresh for every request. The picks come from a counter mixed
// with `seed` (SplitMix64), so a fixed seed gives the same sequence in every run (tests), and
// the shares hold over any long run. The router counts each app of the split as its own route
// (Router::add_choice_route), so /metrics and the access log's {app} say which one answered.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/exchange.hpp"

namespace junction::gateway {

enum class Sticky { cookie, client, none };

struct SplitShare {
  std::string app;       // the app's name (X-Junction-App, the cookie's value)
  unsigned percent = 0;  // the shares sum to 100
};

struct SplitOptions {
  std::vector<SplitShare> shares;
  Sticky sticky = Sticky::cookie;
  std::uint64_t seed = 0;
  bool expose_decision = false;  // X-Junction-App names the app that answered
  std::string cookie_path = "/";
};

inline constexpr std::string_view kSplitCookie = "junction_route";

// Which app of the split takes a request: an index into the shares (Router::Chooser).
class SplitChooser {
 public:
  explicit SplitChooser(SplitOptions options);
  std::size_t operator()(const RequestHead& head) const;

  // The share the request's junction_route cookie names, if it names one of this split's apps.
  std::optional<std::size_t> from_cookie(const RequestHead& head) const;
  // The share that `point` (0..99) falls in.
  std::size_t share_at(std::uint64_t point) const noexcept;

  const SplitOptions& options() const noexcept { return *options_; }

 private:
  std::shared_ptr<const SplitOptions> options_;
  std::shared_ptr<std::atomic<std::uint64_t>> picks_;  // shared by the chooser's copies
};

// One app of a split, behind the headers that tell the decision: Set-Cookie (sticky = cookie,
// when the request did not already name this app) and X-Junction-App (expose_decision).
class SplitMemberApp final : public App {
 public:
  // `expose_decision`: add X-Junction-App (off when a fall-through behind it says who answered).
  SplitMemberApp(std::shared_ptr<App> app, SplitChooser chooser, std::size_t index,
                 bool expose_decision);
  void handle(std::shared_ptr<Exchange> exchange) override;

 private:
  std::shared_ptr<App> app_;
  SplitChooser chooser_;
  std::size_t index_;
  bool expose_decision_;
};

}  // namespace junction::gateway
