/* Prints the effective uid: copied setuid root into a container and run by uid 1000,
 * it shows whether the setuid bit took effect (0) or no_new_privs stopped it (1000). */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("%d\n", (int)geteuid());
    return 0;
}
