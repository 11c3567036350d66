import { mount } from 'svelte';
import App from './App.svelte';
import { pickHost } from './hosts';
import './app.css';
import './lib/charts/charts.css';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');
mount(App, { target, props: { host: pickHost() } });
