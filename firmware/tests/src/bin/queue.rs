//! A message queue between a producer and a slower consumer: the producer
//! blocks on the full queue, the consumer on the empty one; items arrive in
//! order and none is lost.
#![no_std]
#![no_main]

use fw_tests::{check, pass};
use kernel::{Queue, Semaphore, Stack, TaskDef, println};

board::entry!(main);

const CAPACITY: usize = 3;
const ITEMS: u32 = 6;
const LATE: u32 = 100;

static QUEUE: Queue<u32, CAPACITY> = Queue::new();
static DONE: Semaphore = Semaphore::new(0);

static STACKS: [Stack<256>; 2] = [const { Stack::new() }; 2];
static TASKS: [TaskDef; 2] = [
    TaskDef::new("producer", 2, producer, &STACKS[0]),
    TaskDef::new("consumer", 1, consumer, &STACKS[1]),
];

fn main() -> ! {
    println!(
        "queue: capacity ",
        CAPACITY, ", producer (2) faster than consumer (1)"
    );
    kernel::start(&TASKS)
}

fn producer() -> ! {
    let mut blocked = 0;
    for i in 0..ITEMS {
        if QUEUE.len() == CAPACITY {
            println!("producer: queue full, blocking on ", i);
            blocked += 1;
        }
        QUEUE.send(i);
        println!("producer: sent ", i, ", length ", QUEUE.len());
    }
    check(blocked > 0, "the producer never met a full queue");
    kernel::sleep(5);
    check(QUEUE.is_empty(), "the consumer did not drain the queue");
    QUEUE.send(LATE);
    println!("producer: sent ", LATE, " to the waiting consumer");
    DONE.take();
    pass("queue")
}

fn consumer() -> ! {
    let mut expect = 0;
    loop {
        if QUEUE.is_empty() {
            println!("consumer: queue empty, blocking");
        }
        let v = QUEUE.recv();
        println!("consumer: received ", v);
        if v == LATE {
            check(expect == ITEMS, "items lost before the late one");
            DONE.give();
            kernel::sleep(u32::MAX / 2);
        }
        check(v == expect, "items out of order");
        expect += 1;
    }
}
