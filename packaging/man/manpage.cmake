# Writes a man page for one binary from its own --help (cmake -P, run at build time by
# cmake/tc_packaging.cmake), so that the page cannot drift from the binary. The NAME line and the
# extra sections (roff) come from packaging/man/NAME.see-also: its first line is the one-line
# summary, the rest is appended verbatim. Output: OUT.gz, compressed with gzip -9n.
#   cmake -DBINARY=path -DNAME=tigerctl -DVERSION=0.1.0 -DOUT=dir/tigerctl.1 -DGZIP=gzip -P manpage.cmake
foreach(var BINARY NAME VERSION OUT GZIP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "manpage.cmake: -D${var}= is required")
  endif()
endforeach()
execute_process(COMMAND ${BINARY} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc
                ERROR_VARIABLE help_err)
if(NOT rc EQUAL 0 OR help STREQUAL "")
  message(FATAL_ERROR "manpage.cmake: ${BINARY} --help failed (exit ${rc}): ${help_err}")
endif()
get_filename_component(dir ${CMAKE_CURRENT_LIST_FILE} DIRECTORY)
file(STRINGS ${dir}/${NAME}.see-also extra_lines)
list(POP_FRONT extra_lines summary)
file(READ ${dir}/${NAME}.see-also extra)
string(FIND "${extra}" "\n" first_newline)
math(EXPR first_newline "${first_newline} + 1")
string(SUBSTRING "${extra}" ${first_newline} -1 extra)

# roff escapes: backslash first, then minus signs, then lines starting with a control character.
string(REPLACE "\\" "\\e" help "${help}")
string(REPLACE "-" "\\-" help "${help}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
string(TOUPPER ${NAME} title)
file(WRITE ${OUT}
".TH ${title} 1 \"\" \"tigerchat ${VERSION}\" \"TigerChat\"\n"
".SH NAME\n"
"${NAME} \\- ${summary}\n"
".SH SYNOPSIS\n"
"The output of \\fB${NAME} \\-\\-help\\fR:\n"
".PP\n"
".nf\n"
"${help}"
".fi\n"
"${extra}")
execute_process(COMMAND ${GZIP} -9nf ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "manpage.cmake: gzip ${OUT} failed")
endif()
