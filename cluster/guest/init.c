// init for the rrvm default guest: PID 1 in the initramfs, built with
// riscv64-linux-gnu-gcc -static. It reports what the machine offers (CPUs, entropy, clocks,
// one pinned thread per CPU, the virtio disk, uptime), then runs a small shell on the console,
// or, when the kernel command line carries `rrvm.eval=COMMANDS`, runs those commands and powers
// off with their status written to the test finisher (the convention: README, "Commands in the
// guest").
// PID 1 must never return: every path ends in power-off, or in a pause if that fails.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

#define DISK_DEVICE "/dev/vda"
#define DISK_MOUNT "/mnt"
#define DISK_GREETING DISK_MOUNT "/hello.txt"
#define PROMPT "rrvm# "
// Each CPU's thread counts the primes in its own slice of [0, CPUS * PRIME_SLICE).
#define PRIME_SLICE 25000
#define MAX_ARGS 32
// The sifive test finisher of the machine (QEMU virt and rrvm): a 32-bit store of 0x5555 powers off
// with status 0, (status << 16) | 0x3333 with that status.
#define FINISHER_BASE 0x100000
#define FINISHER_PASS 0x5555
#define FINISHER_FAIL 0x3333
// The kernel command line parameter that carries commands to run instead of the interactive shell.
#define EVAL_PARAMETER "rrvm.eval="
// Linux on RISC-V keeps at most 1023 bytes of command line (COMMAND_LINE_SIZE 1024).
#define CMDLINE_MAX 1024

// A labelled report line: "label:" padded to one column, then the value.
static void report(const char *label, const char *format, ...) {
    va_list args;
    printf("  %-15s ", label);
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    putchar('\n');
}

static void mount_or_report(const char *source, const char *target, const char *type,
                            unsigned long flags) {
    mkdir(target, 0755);
    if (mount(source, target, type, flags, NULL) != 0 && errno != EBUSY)
        report("mount:", "%s on %s (%s) failed: %s", source, target, type, strerror(errno));
}

// The kernel opens /dev/console for PID 1 when the initramfs holds that node; if it did not,
// open it now that devtmpfs is mounted.
static void ensure_console(void) {
    if (fcntl(STDOUT_FILENO, F_GETFD) != -1)
        return;
    int fd = open("/dev/console", O_RDWR);
    if (fd < 0)
        return;
    for (int target = 0; target <= 2; target++)
        if (fd != target)
            dup2(fd, target);
    if (fd > 2)
        close(fd);
}

static long online_cpus(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

#define RANDOM_MAX 256

static int print_random(size_t count) {
    unsigned char bytes[RANDOM_MAX];
    if (count > sizeof bytes)
        count = sizeof bytes;
    ssize_t got = getrandom(bytes, count, 0);
    if (got < 0) {
        report("random:", "getrandom failed: %s", strerror(errno));
        return 1;
    }
    char hex[2 * sizeof bytes + 1] = "";
    for (ssize_t i = 0; i < got; i++)
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    report("random:", "%s", hex);
    return 0;
}

static void print_clocks(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    char text[64];
    gmtime_r(&now.tv_sec, &utc);
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
    report("realtime:", "%lld.%09ld (%s)", (long long)now.tv_sec, now.tv_nsec, text);
    clock_gettime(CLOCK_MONOTONIC, &now);
    report("monotonic:", "%lld.%09ld", (long long)now.tv_sec, now.tv_nsec);
}

static int print_uptime(void) {
    char text[128] = "";
    int status = 0;
    FILE *file = fopen("/proc/uptime", "r");
    if (file == NULL || fgets(text, sizeof text, file) == NULL) {
        report("uptime:", "cannot read /proc/uptime: %s", strerror(errno));
        status = 1;
    } else {
        text[strcspn(text, "\n")] = '\0';
        report("uptime:", "%s (seconds up, seconds idle summed over CPUs)", text);
    }
    if (file != NULL)
        fclose(file);
    return status;
}

// The kernel log (as `dmesg` prints it: each line with its [seconds.micros] timestamp, without the
// <level> prefix that syslog(2) adds).
static int print_kernel_log(void) {
    int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
    char *text = size > 0 ? malloc((size_t)size) : NULL;
    int length = text != NULL ? klogctl(3 /* SYSLOG_ACTION_READ_ALL */, text, size) : -1;
    if (length < 0) {
        printf("dmesg: cannot read the kernel log: %s\n", strerror(errno));
        free(text);
        return 1;
    }
    for (int start = 0; start < length;) {
        int end = start;
        while (end < length && text[end] != '\n')
            end++;
        int body = start;
        if (body < end && text[body] == '<') {
            int close = body + 1;
            while (close < end && text[close] >= '0' && text[close] <= '9')
                close++;
            if (close < end && text[close] == '>')
                body = close + 1;
        }
        fwrite(text + body, 1, (size_t)(end - body), stdout);
        putchar('\n');
        start = end + 1;
    }
    free(text);
    return 0;
}

struct pinned_job {
    pthread_t thread;
    int cpu;           // the CPU this thread pins itself to
    int pin_error;     // errno of sched_setaffinity, 0 on success
    int ran_on;        // sched_getcpu() after the work
    long primes;       // primes in [cpu * PRIME_SLICE, (cpu + 1) * PRIME_SLICE)
};

static int is_prime(long n) {
    if (n < 2)
        return 0;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static void *run_pinned(void *argument) {
    struct pinned_job *job = argument;
    cpu_set_t only;
    CPU_ZERO(&only);
    CPU_SET(job->cpu, &only);
    job->pin_error = sched_setaffinity(0, sizeof only, &only) == 0 ? 0 : errno;
    long count = 0;
    for (long n = (long)job->cpu * PRIME_SLICE; n < (long)(job->cpu + 1) * PRIME_SLICE; n++)
        count += is_prime(n);
    job->primes = count;
    job->ran_on = sched_getcpu();
    return NULL;
}

// One thread per CPU that init may run on; results are printed in CPU order after all joined.
static void run_threads_on_every_cpu(void) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        report("threads:", "sched_getaffinity failed: %s", strerror(errno));
        return;
    }
    struct pinned_job jobs[CPU_SETSIZE];
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        jobs[count] = (struct pinned_job){.cpu = cpu, .ran_on = -1};
        int error = pthread_create(&jobs[count].thread, NULL, run_pinned, &jobs[count]);
        if (error != 0) {
            report("threads:", "pthread_create for cpu %d failed: %s", cpu, strerror(error));
            break;
        }
        count++;
    }
    long total = 0;
    int all_on_their_cpu = 1;
    for (int i = 0; i < count; i++) {
        pthread_join(jobs[i].thread, NULL);
        char label[32];
        snprintf(label, sizeof label, "cpu %d thread:", jobs[i].cpu);
        if (jobs[i].pin_error != 0) {
            report(label, "sched_setaffinity failed: %s", strerror(jobs[i].pin_error));
            all_on_their_cpu = 0;
            continue;
        }
        int ok = jobs[i].ran_on == jobs[i].cpu;
        all_on_their_cpu &= ok;
        total += jobs[i].primes;
        report(label, "ran on cpu %d%s, %ld primes in [%ld, %ld)", jobs[i].ran_on,
               ok ? "" : " (NOT the pinned cpu)", jobs[i].primes,
               (long)jobs[i].cpu * PRIME_SLICE, (long)(jobs[i].cpu + 1) * PRIME_SLICE);
    }
    report("threads:", "%d pinned, %s, %ld primes in total", count,
           all_on_their_cpu ? "each ran on its own cpu" : "SOME DID NOT run on their cpu", total);
}

// Copies a file to the console; with a label, each line is printed as a labelled line.
static int show_file(const char *path, const char *label) {
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        printf("%s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    while (fgets(line, sizeof line, file) != NULL) {
        if (label == NULL) {
            fputs(line, stdout);
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        report(label, "%s", line);
    }
    fclose(file);
    return 0;
}

static void mount_disk(void) {
    mkdir(DISK_MOUNT, 0755);
    // Read-only: the disk image stays byte-identical across boots, which record/replay relies on.
    if (mount(DISK_DEVICE, DISK_MOUNT, "ext2", MS_RDONLY, NULL) != 0) {
        report("disk:", "cannot mount %s on %s: %s", DISK_DEVICE, DISK_MOUNT, strerror(errno));
        return;
    }
    report("disk:", "%s mounted read-only on %s", DISK_DEVICE, DISK_MOUNT);
    if (show_file(DISK_GREETING, DISK_GREETING ":") != 0)
        report("disk:", "no %s on the disk", DISK_GREETING);
}

// Writes the test finisher through /dev/mem: the machine stops at that store with `status` as its
// exit status. Returns only when that failed (no /dev/mem, a kernel with STRICT_DEVMEM, ...).
static void write_finisher(int status) {
    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd < 0) {
        printf("rrvm: cannot open /dev/mem: %s\n", strerror(errno));
        return;
    }
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, FINISHER_BASE);
    if (page == MAP_FAILED) {
        printf("rrvm: cannot map the test finisher at 0x%x: %s\n", FINISHER_BASE, strerror(errno));
        close(fd);
        return;
    }
    *(volatile uint32_t *)page =
        status == 0 ? FINISHER_PASS : ((uint32_t)(status & 0xffff) << 16) | FINISHER_FAIL;
    munmap(page, 4096);
    close(fd);
    printf("rrvm: the test finisher did not stop the machine\n");
}

// Powers off. With `use_finisher` (or a non-zero status, which Linux's own power-off cannot carry)
// the status leaves through the test finisher; the console is drained first, since the machine
// stops at that store. Linux's power-off (SBI SRST, status 0) is the fallback.
__attribute__((noreturn)) static void power_off(int status, int use_finisher) {
    printf("rrvm: powering off");
    if (use_finisher || status != 0)
        printf(" with status %d", status);
    printf("\n");
    fflush(stdout);
    sync();
    if (use_finisher || status != 0) {
        tcdrain(STDOUT_FILENO);
        write_finisher(status);
        if (status != 0)
            printf("rrvm: status %d is lost: Linux's power-off reports 0\n", status);
        fflush(stdout);
    }
    reboot(RB_POWER_OFF);
    printf("rrvm: power-off failed: %s; halting\n", strerror(errno));
    fflush(stdout);
    for (;;)
        pause();
}

static int compare_names(const void *left, const void *right) {
    return strcmp(*(char *const *)left, *(char *const *)right);
}

static int list_directory(const char *path) {
    DIR *directory = opendir(path);
    if (directory == NULL) {
        printf("ls: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char **grown = realloc(names, (count + 1) * sizeof *names);
        char *name = grown != NULL ? strdup(entry->d_name) : NULL;
        if (grown != NULL)
            names = grown;
        if (name == NULL)
            break;
        names[count++] = name;
    }
    closedir(directory);
    qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count; i++) {
        char full[1024];
        struct stat info;
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (lstat(full, &info) != 0)
            printf("  %s\n", names[i]);
        else if (S_ISDIR(info.st_mode))
            printf("  %s/\n", names[i]);
        else if (S_ISREG(info.st_mode))
            printf("  %-24s %lld bytes\n", names[i], (long long)info.st_size);
        else
            printf("  %-24s (%s)\n", names[i],
                   S_ISCHR(info.st_mode) ? "char device" :
                   S_ISBLK(info.st_mode) ? "block device" :
                   S_ISLNK(info.st_mode) ? "symlink" : "special");
        free(names[i]);
    }
    free(names);
    return 0;
}

static void print_help(void) {
    printf("commands (several on one line: separate them with ';'):\n"
           "  help          this list\n"
           "  echo TEXT     print TEXT\n"
           "  cat FILE...   print files (the disk is mounted on " DISK_MOUNT ")\n"
           "  ls [DIR]      list a directory (default /)\n"
           "  uptime        /proc/uptime\n"
           "  date          CLOCK_REALTIME and CLOCK_MONOTONIC\n"
           "  cpus          online CPUs, and one pinned thread on each\n"
           "  rand [N]      N random bytes from getrandom (default 16, at most %d)\n"
           "  dmesg         the kernel log, with its timestamps\n"
           "  fetch [-s] URL  GET http://A.B.C.D[:PORT]/PATH and print the body (-s: size, crc32, time)\n"
           "  serve PORT    answer one HTTP request on PORT (reach it with rrctl --net user,hostfwd=...)\n"
           "  true, false   succeed, fail (status 0, 1)\n"
           "  exit [N]      power off with status N (default 0)\n"
           "  poweroff      sync and power the machine off (so does end of input, Ctrl-D)\n",
           RANDOM_MAX);
}

// A whole decimal number in [low, high], or -1.
static long parse_number(const char *text, long low, long high) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low || value > high)
        return -1;
    return value;
}

// Runs one command and returns its status (0 = success); sets *stop when the shell should end,
// with that status as the machine's.
static int run_command(char *line, int *stop) {
    char *args[MAX_ARGS];
    int count = 0;
    for (char *token = strtok(line, " \t\r\n"); token != NULL && count < MAX_ARGS;
         token = strtok(NULL, " \t\r\n"))
        args[count++] = token;
    if (count == 0)
        return 0;
    const char *command = args[0];
    int status = 0;
    if (strcmp(command, "help") == 0) {
        print_help();
    } else if (strcmp(command, "echo") == 0) {
        for (int i = 1; i < count; i++)
            printf(i > 1 ? " %s" : "%s", args[i]);
        putchar('\n');
    } else if (strcmp(command, "cat") == 0) {
        if (count == 1) {
            printf("usage: cat FILE...\n");
            status = 2;
        }
        for (int i = 1; i < count; i++)
            if (show_file(args[i], NULL) != 0)
                status = 1;
    } else if (strcmp(command, "ls") == 0) {
        status = list_directory(count > 1 ? args[1] : "/");
    } else if (strcmp(command, "uptime") == 0) {
        status = print_uptime();
    } else if (strcmp(command, "date") == 0) {
        print_clocks();
    } else if (strcmp(command, "cpus") == 0) {
        report("cpus online:", "%ld", online_cpus());
        run_threads_on_every_cpu();
    } else if (strcmp(command, "rand") == 0) {
        long bytes = count > 1 ? parse_number(args[1], 1, RANDOM_MAX) : 16;
        if (bytes < 0) {
            printf("rand: N must be a number from 1 to %d, not '%s'\n", RANDOM_MAX, args[1]);
            status = 2;
        } else {
            status = print_random((size_t)bytes);
        }
    } else if (strcmp(command, "dmesg") == 0) {
        status = print_kernel_log();
    } else if (strcmp(command, "fetch") == 0) {
        int summary = count > 2 && strcmp(args[1], "-s") == 0;
        if (count != 2 + summary) {
            printf("usage: fetch [-s] http://A.B.C.D[:PORT]/PATH\n");
            return 2;
        }
        status = net_fetch(args[1 + summary], summary);
    } else if (strcmp(command, "serve") == 0) {
        long port = count == 2 ? parse_number(args[1], 1, 65535) : -1;
        if (port < 0) {
            printf("usage: serve PORT (1 to 65535)\n");
            return 2;
        }
        status = net_serve(port);
    } else if (strcmp(command, "true") == 0) {
        status = 0;
    } else if (strcmp(command, "false") == 0) {
        status = 1;
    } else if (strcmp(command, "exit") == 0) {
        long code = count > 1 ? parse_number(args[1], 0, 255) : 0;
        if (code < 0) {
            printf("exit: N must be a number from 0 to 255, not '%s'\n", args[1]);
            return 2;
        }
        *stop = 1;
        status = (int)code;
    } else if (strcmp(command, "poweroff") == 0) {
        *stop = 1;
    } else {
        printf("rrvm: unknown command '%s' (type 'help' for the list)\n", command);
        status = 127;
    }
    return status;
}

// Runs the ';'-separated commands of a line (newlines separate them too), each echoed after the
// prompt when `echo` is set; returns the status of the first that failed, else 0.
static int run_line(char *line, int echo, int *stop) {
    int first_failure = 0;
    char *next = line;
    while (next != NULL && !*stop) {
        char *command = next;
        size_t length = strcspn(command, ";\n");
        next = command[length] != '\0' ? command + length + 1 : NULL;
        command[length] = '\0';
        command += strspn(command, " \t\r");
        if (*command == '\0')
            continue;
        if (echo)
            printf(PROMPT "%s\n", command);
        int status = run_command(command, stop);
        if (first_failure == 0)
            first_failure = status;
    }
    return first_failure;
}

// The interactive shell; returns the status the machine powers off with.
static int shell(void) {
    char line[512];
    for (;;) {
        fputs(PROMPT, stdout);
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL) {
            printf("\nrrvm: end of input\n");
            return 0;
        }
        if (strchr(line, '\n') == NULL && !feof(stdin)) {
            int c;
            while ((c = getchar()) != EOF && c != '\n')
                ;
            printf("rrvm: line too long (at most %zu characters)\n", sizeof line - 2);
            continue;
        }
        int stop = 0;
        int status = run_line(line, 0, &stop);
        if (stop)
            return status;
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// The commands of `rrvm.eval=` in /proc/cmdline, decoded into `commands`: 1 when there are some,
// 0 when the parameter is absent, -1 (with a message) when it cannot be decoded. The value is
// percent-encoded: %XX stands for the byte 0xXX, every other byte for itself (the kernel splits
// its command line at spaces and treats '"' specially, so rrctl encodes those and more).
static int eval_commands(char *commands, size_t size) {
    char cmdline[CMDLINE_MAX + 1] = "";
    FILE *file = fopen("/proc/cmdline", "r");
    if (file == NULL)
        return 0;
    size_t length = fread(cmdline, 1, sizeof cmdline - 1, file);
    fclose(file);
    cmdline[length] = '\0';
    const char *value = NULL;
    for (const char *word = cmdline; *word != '\0'; word += strcspn(word, " \n")) {
        word += strspn(word, " \n");
        if (strncmp(word, EVAL_PARAMETER, strlen(EVAL_PARAMETER)) == 0)
            value = word + strlen(EVAL_PARAMETER);
    }
    if (value == NULL)
        return 0;
    size_t out = 0;
    for (size_t in = 0; value[in] != '\0' && value[in] != ' ' && value[in] != '\n'; in++) {
        int byte = (unsigned char)value[in];
        if (byte == '%') {
            int high = hex_digit(value[in + 1]);
            int low = high < 0 ? -1 : hex_digit(value[in + 2]);
            if (low < 0 || high * 16 + low == 0) {
                printf("rrvm: " EVAL_PARAMETER " has a bad escape at byte %zu (%%XX, XX not 00)\n", in);
                return -1;
            }
            byte = high * 16 + low;
            in += 2;
        }
        if (out + 1 >= size) {
            printf("rrvm: " EVAL_PARAMETER " is too long\n");
            return -1;
        }
        commands[out++] = (char)byte;
    }
    commands[out] = '\0';
    return 1;
}

int main(void) {
    mount_or_report("devtmpfs", "/dev", "devtmpfs", 0);
    ensure_console();
    setvbuf(stdout, NULL, _IOLBF, 0);
    mount_or_report("proc", "/proc", "proc", 0);
    mount_or_report("sysfs", "/sys", "sysfs", 0);

    printf("rrvm guest init\n");
    report("cpus online:", "%ld", online_cpus());
    print_random(16);
    print_clocks();
    run_threads_on_every_cpu();
    mount_disk();
    net_up();
    print_uptime();
    // `rrvm_poweroff=1` on the kernel command line reaches init as an environment variable: the boot
    // benchmarks use it to power off right after the report, without typing at the prompt.
    const char *autopoweroff = getenv("rrvm_poweroff");
    if (autopoweroff && strcmp(autopoweroff, "1") == 0) {
        printf("rrvm: powering off (rrvm_poweroff=1)\n");
        power_off(0, 0);
    }
    // `rrvm.eval=` (dotted, so the kernel keeps it out of init's environment: read from /proc).
    char commands[CMDLINE_MAX];
    switch (eval_commands(commands, sizeof commands)) {
    case 1: {
        int stop = 0;
        power_off(run_line(commands, 1, &stop), 1);
    }
    case -1:
        power_off(2, 1);
    default:
        break;
    }
    printf("type 'help' for commands\n");
    power_off(shell(), 0);
}
