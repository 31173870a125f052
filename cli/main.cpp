#include <cstdio>
int main() { std::puts("needlepoint"); return 0; }
