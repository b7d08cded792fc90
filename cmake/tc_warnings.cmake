# Strict warnings for every target in the project.
add_compile_options(
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Wundef
  -Wcast-align -Wpointer-arith -Wwrite-strings -Wimplicit-fallthrough
)
if(TC_WERROR)
  add_compile_options(-Werror)
endif()
