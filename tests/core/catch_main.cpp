// catch_main.cpp — Catch2's main, compiled once so test files rebuild quickly.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
