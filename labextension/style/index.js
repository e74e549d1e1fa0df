import './base.css';
import './gpu.css';
import './jobs.css';
import 'uplot/dist/uPlot.min.css';
