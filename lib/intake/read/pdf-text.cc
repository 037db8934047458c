// pdf-text: a long-lived reader of PDF text layers, one document at a time, for lib/intake/read/text-layer.ts.
//
// pdftotext spends ~70 % of its CPU on a small document starting up (loading poppler and its ~30 libraries: ~6.5 of
// ~9.5 ms for a 3-page invoice); this process starts once and reads each PDF with the same poppler text output in
// physical layout (what `pdftotext -layout` prints).
//
// Protocol, little-endian u32 lengths, on stdin and stdout:
//   request:  u32 n, then n bytes of PDF
//   answer:   u32 n, then n bytes of body (so the reader knows when an answer is whole without parsing it):
//             u32 0, u32 pages, then per page u32 len and len bytes of UTF-8 text
//             u32 1, u32 len, then len bytes of UTF-8 reason (the PDF could not be read)
// It exits on end of input (its parent went). Poppler's own messages are dropped. A document whose text would pass
// PDF_TEXT_MAX_BYTES (default 32 MiB) is refused with a reason; address space is capped by PDF_TEXT_MAX_MB (default
// 1024), so a hostile file fails its read (or kills this process, which the parent replaces) instead of the machine.
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

bool read_exact(void *buf, size_t n) { return n == 0 || std::fread(buf, 1, n, stdin) == n; }

void put_u32(std::string &out, uint32_t v) {
    const char b[4] = {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff), static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 24) & 0xff)};
    out.append(b, 4);
}

uint32_t get_u32(const unsigned char *b) { return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24; }

void answer(const std::string &body) {
    std::string out;
    put_u32(out, static_cast<uint32_t>(body.size()));
    out += body;
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
}

void refuse(const std::string &reason) {
    std::string out;
    put_u32(out, 1);
    put_u32(out, static_cast<uint32_t>(reason.size()));
    out += reason;
    answer(out);
}

void quiet(const std::string &, void *) {}

size_t env_size(const char *name, size_t fallback) {
    const char *v = std::getenv(name);
    if (!v || !*v) return fallback;
    char *end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    return (end && *end == '\0' && n > 0) ? static_cast<size_t>(n) : fallback;
}

void read_one(const std::vector<char> &pdf, size_t max_text) {
    std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(pdf.data(), static_cast<int>(pdf.size())));
    if (!doc) return refuse("not a readable PDF");
    if (doc->is_locked()) return refuse("password-protected");
    const int pages = doc->pages();
    std::string out;
    put_u32(out, 0);
    put_u32(out, static_cast<uint32_t>(pages < 0 ? 0 : pages));
    size_t text_bytes = 0;
    for (int i = 0; i < pages; i++) {
        std::unique_ptr<poppler::page> page(doc->create_page(i));
        std::string text;
        if (page) {
            const poppler::byte_array utf8 = page->text(poppler::rectf(), poppler::page::physical_layout).to_utf8();
            text.assign(utf8.begin(), utf8.end());
            // the text output ends each page with a form feed (pdftotext's separator between pages)
            if (!text.empty() && text.back() == '\f') text.pop_back();
        }
        text_bytes += text.size();
        if (text_bytes > max_text) return refuse("text larger than the output cap");
        put_u32(out, static_cast<uint32_t>(text.size()));
        out += text;
    }
    answer(out);
}

} // namespace

int main() {
    poppler::set_debug_error_function(quiet, nullptr);
    const size_t max_text = env_size("PDF_TEXT_MAX_BYTES", size_t(32) << 20);
    const size_t max_mb = env_size("PDF_TEXT_MAX_MB", 1024);
    const rlimit as = {static_cast<rlim_t>(max_mb) << 20, static_cast<rlim_t>(max_mb) << 20};
    setrlimit(RLIMIT_AS, &as);
    std::vector<char> pdf;
    for (;;) {
        unsigned char head[4];
        if (!read_exact(head, 4)) return 0;
        const uint32_t n = get_u32(head);
        try {
            pdf.resize(n);
        } catch (const std::bad_alloc &) {
            return 3;
        }
        if (!read_exact(pdf.data(), n)) return 0;
        try {
            read_one(pdf, max_text);
        } catch (const std::bad_alloc &) {
            refuse("out of memory reading the PDF");
        } catch (const std::exception &e) {
            refuse(std::string("reading failed: ") + e.what());
        }
    }
}
