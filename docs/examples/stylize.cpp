// Stylizes one picture with a libstyle model on several threads at once, in C++.
//
//   c++ -std=c++17 stylize.cpp $(pkg-config --cflags --libs libstyle) -pthread -o stylize-cpp
//   ./stylize-cpp /usr/local/share/libstyle/models/the-scream.safetensors city.jpg styled.jpg
//
// Written from docs/api.md: the C API wrapped in RAII handles and an exception. One model is
// shared by every thread; each thread has its own session (the threading rules).
#include <libstyle.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace
{

struct style_error : std::runtime_error {
    explicit style_error(style_status status)
        : std::runtime_error(std::string(style_last_error()) + " (" + style_status_string(status) +
                             ")")
    {
    }
};

void check(style_status status)
{
    if (status != STYLE_OK) throw style_error(status);
}

struct model_deleter {
    void operator()(style_model *model) const
    {
        style_model_free(model);
    }
};
struct session_deleter {
    void operator()(style_session *session) const
    {
        style_session_free(session);
    }
};
using model_ptr = std::unique_ptr<style_model, model_deleter>;
using session_ptr = std::unique_ptr<style_session, session_deleter>;

// An image whose pixels the library allocated (style_image_release frees them).
struct owned_image {
    style_image image{};
    owned_image() = default;
    owned_image(const owned_image &) = delete;
    owned_image &operator=(const owned_image &) = delete;
    ~owned_image()
    {
        style_image_release(&image);
    }
};

model_ptr load_model(const char *path)
{
    style_model *model = nullptr;
    check(style_model_load(path, nullptr, &model));
    return model_ptr(model);
}

// Stylizes `input` into `output` (allocated by the library) with a session of its own.
void stylize(style_model *model, const style_image &input, owned_image &output, int threads)
{
    style_session *raw = nullptr;
    check(style_session_create(model, &raw));
    session_ptr session(raw);
    check(style_session_set_threads(session.get(), threads));
    output.image.width = input.width;
    output.image.height = input.height;
    check(style_session_stylize(session.get(), &input, &output.image));
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s MODEL.safetensors INPUT OUTPUT\n", argv[0]);
        return 2;
    }
    try {
        model_ptr model = load_model(argv[1]);
        owned_image photo;
        check(style_image_load(argv[2], 0, &photo.image));

        // Two threads, each with its own session on the shared model, one thread per run.
        const int workers = 2;
        std::vector<owned_image> results(workers);
        std::vector<std::string> errors(workers);
        std::vector<std::thread> threads;
        for (int i = 0; i < workers; ++i) {
            threads.emplace_back([&, i] {
                try {
                    stylize(model.get(), photo.image, results[i], 1);
                } catch (const std::exception &error) {
                    errors[i] = error.what(); // style_last_error is per thread: copy it here
                }
            });
        }
        for (auto &thread : threads)
            thread.join();
        for (const auto &error : errors)
            if (!error.empty()) throw std::runtime_error(error);

        // Same model, same input: the sessions agree to the byte.
        const style_image &a = results[0].image;
        const style_image &b = results[1].image;
        const size_t bytes = static_cast<size_t>(a.width) * a.height * a.channels;
        if (std::memcmp(a.data, b.data, bytes) != 0)
            throw std::runtime_error("two sessions gave different pictures");

        check(style_image_save(argv[3], &a, 90));
        std::printf("%s: %dx%d, stylized by %d threads -> %s\n", argv[2], a.width, a.height,
                    workers, argv[3]);
        return 0;
    } catch (const std::exception &error) {
        std::fprintf(stderr, "stylize-cpp: %s\n", error.what());
        return 1;
    }
}
