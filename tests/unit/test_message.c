/*
 * Unit tests for common/message: one-line error messages.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/message.h"

Test(message, control_characters_are_escaped_in_place)
{
    char msg[64] = "key 'a\nb\rc\td' is unknown";
    mt_message_one_line(msg, sizeof msg);
    cr_assert_str_eq(msg, "key 'a\\nb\\rc\\x09d' is unknown");
}

Test(message, a_message_without_control_characters_is_left_alone)
{
    char msg[16] = "plain";
    mt_message_one_line(msg, sizeof msg);
    cr_assert_str_eq(msg, "plain");
    mt_message_one_line(NULL, 10); /* accepted */
}

Test(message, escapes_that_do_not_fit_are_cut_whole)
{
    char msg[8] = "ab\ncd\ne";
    mt_message_one_line(msg, sizeof msg);
    cr_assert_str_eq(msg, "ab\\ncd"); /* "\n" of 2 bytes would not fit before the NUL */
}

Test(message, origin_and_line_lead_the_message)
{
    char err[64];
    mt_message_format_at(err, sizeof err, "tools/x.yml", 3, "input '%s': %d", "a\nb", 7);
    cr_assert_str_eq(err, "tools/x.yml:3: input 'a\\nb': 7");
    mt_message_format_at(err, sizeof err, "tools/x.yml", 0, "cannot open");
    cr_assert_str_eq(err, "tools/x.yml: cannot open");
    mt_message_format_at(err, 12, "tools/x.yml", 0, "cannot open");
    cr_assert_str_eq(err, "tools/x.yml");
}
