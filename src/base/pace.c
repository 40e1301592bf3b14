/* pace.c - see pace.h. */
#include "base/pace.h"

void pace_init(struct pace *p, double rate, double burst, size_t slots, uint64_t now_ms)
{
    p->rate = rate;
    p->burst = burst;
    p->slots = (double)slots;
    p->tokens = burst;
    p->at_ms = now_ms;
}

void pace_set(struct pace *p, double rate, double burst)
{
    p->rate = rate;
    p->burst = burst;
    if (p->tokens > burst)
        p->tokens = burst;
}

void pace_refill(struct pace *p, uint64_t now_ms)
{
    p->tokens += (double)(now_ms - p->at_ms) * p->rate / 1000.0;
    if (p->tokens > p->burst)
        p->tokens = p->burst;
    p->at_ms = now_ms;
}

double pace_need(const struct pace *p, size_t waiting)
{
    double need = p->rate * PACE_BATCH_MS / 1000.0;

    if (need > (double)waiting)
        need = (double)waiting;
    if (need > p->slots)
        need = p->slots;
    if (need > p->burst)
        need = p->burst;
    return need < 1.0 ? 1.0 : need;
}

bool pace_take(struct pace *p, double need)
{
    if (p->tokens < need)
        return false;
    p->tokens -= 1.0;
    return true;
}

uint64_t pace_wait_ms(const struct pace *p, size_t waiting)
{
    return (uint64_t)((pace_need(p, waiting) - p->tokens) * 1000.0 / p->rate) + 1;
}
