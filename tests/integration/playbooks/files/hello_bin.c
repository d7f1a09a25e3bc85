/* A compiled module (ansible-core's "binary" module style: its arguments in a JSON file,
 * argv[1]), for the tests of non-Python modules as async jobs (test_start_faults.py); the
 * test compiles it with cc. It prints its greeting and its style as one JSON object. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    char args[65536], greeting[256] = "";
    size_t n = 0;
    FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;
    if (f) {
        n = fread(args, 1, sizeof(args) - 1, f);
        fclose(f);
    }
    args[n] = '\0';
    char *at = strstr(args, "\"greeting\"");
    if (at && (at = strchr(at + 10, '"'))) {
        size_t i = 0;
        for (at++; *at && *at != '"' && i < sizeof(greeting) - 1; at++)
            greeting[i++] = *at;
        greeting[i] = '\0';
    }
    printf("{\"changed\": false, \"msg\": \"hello from a binary\", \"greeting\": \"%s\", "
           "\"interpreter\": \"none\"}\n", greeting);
    return 0;
}
