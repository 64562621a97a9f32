import { LossyBus } from '../support/lossy-bus.js';
import { busConformance } from './conformance.js';

// Three seeds: each loses, doubles and delays different batches.
for (const seed of [1, 7, 42]) busConformance(`lossy, reordering, doubling (seed ${seed})`, () => new LossyBus(seed));
